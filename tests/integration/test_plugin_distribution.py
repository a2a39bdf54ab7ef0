"""A plugin shipped as its own installed distribution is found by its entry point."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

PLUGIN_SOURCE = '''\
"""A third-party accord plugin, as a user would ship it."""
from accord import hookimpl


@hookimpl
def accord_hash_function(name):
    if name == "length":
        return len
    return None
'''

SHOW = """
import json
from accord.core.plugins import get_plugin_manager
manager = get_plugin_manager()
print(json.dumps({
    "plugins": [name for name, _ in manager.list_name_plugin()],
    "length": manager.hook.accord_hash_function(name="length") is len,
}))
"""


def build_wheel(directory: Path, dist: str, version: str, module: str, ep_name: str) -> Path:
    """Write a minimal, valid wheel by hand (no build backend needed)."""
    dist_info = f"{dist}-{version}.dist-info"
    files = {
        f"{module}.py": PLUGIN_SOURCE,
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n",
        f"{dist_info}/WHEEL": "Wheel-Version: 1.0\nGenerator: accord-tests\n"
        "Root-Is-Purelib: true\nTag: py3-none-any\n",
        f"{dist_info}/entry_points.txt": f"[accord]\n{ep_name} = {module}\n",
    }
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{name},sha256={digest.decode()},{len(text.encode())}")
    record.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = "\n".join(record) + "\n"
    wheel = directory / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return wheel


def show_plugins(target: Path, **env: str) -> str:
    environ = {k: v for k, v in os.environ.items() if k != "ACCORD_DISABLE_PLUGINS"}
    environ["PYTHONPATH"] = os.pathsep.join([str(target), environ.get("PYTHONPATH", "")])
    result = subprocess.run(
        [sys.executable, "-c", SHOW], capture_output=True, text=True, env=environ | env
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def installed_plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    build = tmp_path_factory.mktemp("build")
    target = tmp_path_factory.mktemp("site")
    wheel = build_wheel(build, "accord_length_hash", "1.0", "accord_length_hash", "length-hash")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps",
         "--target", str(target), str(wheel)],
        check=True,
    )  # fmt: skip
    return target


def test_installed_distribution_shows_up_under_its_entry_point_name(
    installed_plugin: Path,
) -> None:
    out = show_plugins(installed_plugin)
    assert '"length-hash"' in out
    assert '"length": true' in out


def test_installed_distribution_is_kept_out_by_accord_disable_plugins(
    installed_plugin: Path,
) -> None:
    out = show_plugins(installed_plugin, ACCORD_DISABLE_PLUGINS="length-hash")
    assert '"length-hash"' not in out
    assert '"length": false' in out
