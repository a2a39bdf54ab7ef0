"""Each optional dependency, when missing, is named by the extra that installs it.

Every case runs in a fresh interpreter in which the dependency's modules
cannot be imported (an import hook refuses them, as if they were never
installed), uses accord as its docs say, and checks the message of the
``MissingDependency`` it gets.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

BLOCKER = """
import importlib.abc, sys
BLOCKED = {blocked!r}
class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None
sys.meta_path.insert(0, Blocker())
"""

DJANGO = """
import django
from django.conf import settings
settings.configure(
    DATABASES={{
        "default": {{"ENGINE": "django.db.backends.{engine}", "NAME": "a"}},
        "other": {{"ENGINE": "django.db.backends.{engine}", "NAME": "b"}},
    }},
    INSTALLED_APPS=["accord.contrib.django"],
)
django.setup()
"""

CASES = {
    "celery": (
        {"celery", "billiard", "kombu"},
        "from accord.contrib.celery import singleton_task",
    ),
    "django": ({"django"}, "from accord.contrib.django.cache import RingCache"),
    "redis": (
        {"redis"},
        "from accord.core.lock import Lock\nLock('n', 'redis://127.0.0.1:1/0').acquire(timeout=0)",
    ),
    "zookeeper": (
        {"kazoo"},
        "from accord.core.lock import Lock\nLock('n', 'zookeeper://127.0.0.1:1').acquire(timeout=0)",
    ),
    "opentelemetry": (
        {"opentelemetry"},
        "from accord.contrib import opentelemetry\nopentelemetry.install()",
    ),
    "prometheus": (
        {"prometheus_client"},
        "from accord.contrib import prometheus\nprometheus.install()",
    ),
    "postgres": (
        {"psycopg", "psycopg2"},
        DJANGO.format(engine="postgresql")
        + "from accord.contrib.django import tpc\nwith tpc.atomic('default', 'other'): pass",
    ),
    "mysql": (
        {"MySQLdb"},
        DJANGO.format(engine="mysql")
        + "from accord.contrib.django import tpc\nwith tpc.atomic('default', 'other'): pass",
    ),
}


def _run_without(blocked: set[str], code: str) -> subprocess.CompletedProcess[str]:
    script = BLOCKER.format(blocked=sorted(blocked)) + textwrap.dedent(code)
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize("extra", sorted(CASES))
def test_a_missing_extra_is_named_with_the_pip_command(extra: str) -> None:
    blocked, code = CASES[extra]
    result = _run_without(blocked, code)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("accord.core.errors.MissingDependency: "), result.stderr
    assert f'pip install "accord[{extra}]"' in last
