"""Find the code samples of a docs page and run them: ``python docs_samples.py PAGE.rst``.

Every ``.. code-block:: python`` block of a page is a sample, and so is every
``::`` literal block that parses as Python. The rst comment ``.. sample: MODE``
before a block (invisible in the HTML) says how it runs; without one, it is
``run``. A block in another language runs only if it has a comment.

=================================  ====================================================
``.. sample: run [given CODE]``    exec in the page's namespace (shared by the page's
``[then CODE]``                    samples, in order); ``given`` code runs before the
                                   sample, ``then`` code (an assert) after it
``.. sample: shop [...]``          the same, inside the example shop (Django set up
                                   from ``examples.shop.settings``, databases migrated;
                                   ``Order``, ``LedgerEntry``, ``cache`` and ``tpc`` in
                                   the namespace)
``.. sample: file NAME``           written to ``NAME`` in the page's work directory
                                   (which is on ``sys.path``)
``.. sample: pytest``              written as a test module there and run by pytest
``.. sample: install``             ``pip install`` the work directory (a distribution
                                   whose ``pyproject.toml`` an earlier sample wrote)
``.. sample: settings [IDS]``      a Django settings fragment: a fresh process runs the
                                   system checks on it (databases tagged too); they must
                                   report exactly the check ids ``IDS`` (none if empty;
                                   ``accord.W010``, a node not answering, is ignored
                                   unless listed)
``.. sample: console [...]``       a shell command (``bash``, in the work directory,
                                   the venv's ``bin`` first on ``PATH``); ``given`` and
                                   ``then`` code as for ``run``, which sees the
                                   ``subprocess.CompletedProcess`` as ``result``
``.. sample: worker [...]``        as ``run``, then a real Celery worker (prefork, 2
                                   processes) is started on the ``given`` and sample
                                   code, exec'd in a module of the page namespace's
                                   name, whose ``app`` it serves; then the ``then``
                                   code runs (it may call the tasks). The worker stops
                                   when the page ends
``.. sample: skip REASON``         not run; the reason is reported
=================================  ====================================================

The comment may go on over the following lines, indented under it (a long
``given`` or ``then``); a ``then`` starting a line ends the ``given`` code.
The namespace has ``WORK``, the page's work directory (a ``pathlib.Path``).

The servers come from the environment the test sets: ``SHOP_*`` (see
examples/shop/settings.py), ``DOCS_DATABASES`` (JSON list of ``DATABASES``
entries of scratch databases, which replace the addresses of the databases a
settings fragment names, in order) and ``DOCS_ADDRESSES`` (JSON object: an
example address of the docs, such as ``10.0.0.1:6379``, to the real one it
stands for; replaced in the code of ``run``, ``shop``, ``console`` and
``worker`` samples and their ``given``/``then`` code). Prints one
``RESULT <json>`` line.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
_MARKER = re.compile(r"^\s*\.\. sample: (\S+)\s*(.*)$")
_CODE_BLOCK = re.compile(r"^(\s*)\.\. code-block:: (\S+)\s*$")


@dataclass
class Sample:
    page: str
    line: int
    language: str
    mode: str
    arg: str
    code: str

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def _block(lines: list[str], start: int, indent: int) -> tuple[str, int]:
    """The indented block after line *start* (options skipped), dedented; and its end."""
    i = start + 1
    while i < len(lines) and re.match(r"^\s+:\w[\w-]*:", lines[i]):  # directive options
        i += 1
    body: list[str] = []
    while i < len(lines):
        line = lines[i]
        if line.strip() and len(line) - len(line.lstrip()) <= indent:
            break
        body.append(line)
        i += 1
    return textwrap.dedent("\n".join(body)).strip("\n") + "\n", i


def _is_python(code: str) -> bool:
    if code.lstrip().startswith(("$", ">>>")):
        return False
    try:
        ast.parse(code)
    except SyntaxError:
        return False
    return True


def samples(path: Path) -> list[Sample]:
    """Every sample of the page at *path*, in order."""
    lines = path.read_text().splitlines()
    found: list[Sample] = []
    marker: tuple[str, str] | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        if m := _MARKER.match(line):
            marker_indent = len(line) - len(line.lstrip())
            more: list[str] = []
            i += 1
            while i < len(lines) and lines[i].strip():
                if len(lines[i]) - len(lines[i].lstrip()) <= marker_indent:
                    break
                more.append(lines[i])
                i += 1
            arg = "\n".join([m.group(2).strip(), textwrap.dedent("\n".join(more))])
            marker = (m.group(1), arg.strip())
            continue
        indent = len(line) - len(line.lstrip())
        language = None
        if m := _CODE_BLOCK.match(line):
            language = m.group(2)
        elif line.rstrip().endswith("::") and not line.lstrip().startswith(".."):
            language = "literal"
        if language is None:
            i += 1
            continue
        code, end = _block(lines, i, indent)
        wanted = (
            language == "python"
            or (language == "literal" and _is_python(code))
            or marker is not None
        )
        if wanted:
            mode, arg = marker or ("run", "")
            found.append(Sample(path.name, i + 1, language, mode, arg, code))
        marker = None
        i = end
    return found


# ----------------------------------------------------------------- running


def _given_then(arg: str) -> tuple[str, str]:
    """The code of ``given CODE`` (run before the sample) and ``then CODE`` (after it)."""
    parts = re.split(r"\sthen\s", f" {arg} ", maxsplit=1)
    given, then = parts[0].strip(), parts[1].strip() if len(parts) > 1 else ""
    return given.removeprefix("given").strip(), then


def _localize(code: str) -> str:
    """*code* with the docs' example addresses replaced by the real ones (``DOCS_ADDRESSES``)."""
    for example, real in json.loads(os.environ.get("DOCS_ADDRESSES", "{}")).items():
        code = code.replace(example, real)
    return code


def _database_entries() -> list[dict[str, Any]]:
    return list(json.loads(os.environ.get("DOCS_DATABASES", "[]")))


def _setup_shop(namespace: dict[str, Any]) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "examples.shop.settings"
    import django

    django.setup()
    from django.core.cache import cache
    from django.core.management import call_command

    from accord.contrib.django import tpc
    from examples.shop.models import LedgerEntry, Order

    for alias in ("default", "ledger"):
        call_command("migrate", database=alias, verbosity=0)
    namespace.update(Order=Order, LedgerEntry=LedgerEntry, cache=cache, tpc=tpc)


def check_settings(code: str) -> list[str]:
    """Configure Django from the fragment *code* and return the check ids reported."""
    fragment: dict[str, Any] = {}
    exec(compile(code, "<settings sample>", "exec"), fragment)
    values = {k: v for k, v in fragment.items() if k.isupper()}
    scratch = _database_entries()
    databases = values.get("DATABASES") or {"default": {"ENGINE": "django.db.backends.sqlite3"}}
    for entry in databases.values():
        if "sqlite" not in entry.get("ENGINE", "") and scratch:
            # The fragment's addresses are examples: point them at a scratch database.
            real = scratch.pop(0)
            entry.update({k: real[k] for k in ("HOST", "PORT", "USER", "PASSWORD", "NAME")})
    values["DATABASES"] = databases
    values["INSTALLED_APPS"] = [
        *values.get("INSTALLED_APPS", []),
        *[a for a in ["accord.contrib.django"] if a not in values.get("INSTALLED_APPS", [])],
    ]
    values["INSTALLED_APPS"] = [a for a in values["INSTALLED_APPS"] if a is not Ellipsis]
    from django.conf import settings

    settings.configure(**values)
    import django

    django.setup()
    from django.core.checks import run_checks

    messages = run_checks(databases=list(databases))
    return sorted({m.id for m in messages if m.id and m.id.startswith("accord.")})


def _run_settings(sample: Sample) -> None:
    with tempfile.TemporaryDirectory() as cwd:  # where a SQLite sample's file lands
        proc = subprocess.run(
            [sys.executable, __file__, "--settings"],
            input=sample.code,
            capture_output=True,
            text=True,
            cwd=cwd,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            timeout=120,
        )
    if proc.returncode != 0:
        raise AssertionError(f"the settings fragment failed:\n{proc.stderr[-3000:]}")
    ids = json.loads(proc.stdout.strip().splitlines()[-1])
    expected = sorted(sample.arg.split())
    if "accord.W010" not in expected:
        ids = [i for i in ids if i != "accord.W010"]
    if ids != expected:
        raise AssertionError(f"the checks reported {ids}, the page promises {expected}")


def _run_console(code: str, work: Path) -> subprocess.CompletedProcess[str]:
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return subprocess.run(
        ["bash", "-c", code],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PATH": path, "PYTHONPATH": str(ROOT)},
    )


def _start_worker(sample: Sample, code: str, module: str, work: Path) -> subprocess.Popen[bytes]:
    """A prefork worker on *code* (exec'd as module *module*) started; raise if it is not ready."""
    source = work / f"worker_{sample.line}.py"
    source.write_text(code)
    log = work / f"worker_{sample.line}.log"
    env = {
        **os.environ,
        "DOCS_WORKER_CODE": str(source),
        "DOCS_WORKER_MODULE": module,
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), str(work), str(ROOT)]),
    }
    command = [
        *(sys.executable, "-m", "celery", "-A", "docs_support.celery_app", "worker"),
        *("--pool=prefork", "--concurrency=2", "-l", "info", "-n", f"docs{sample.line}@%h"),
        *("--without-gossip", "--without-mingle", "--without-heartbeat"),
    ]
    with log.open("ab") as out:
        process = subprocess.Popen(
            command, cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    deadline = time.monotonic() + 60
    while " ready." not in log.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            _stop_worker(process)
            raise AssertionError(f"the worker did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)
    return process


def _stop_worker(process: subprocess.Popen[bytes]) -> None:
    """Stop the worker's whole process group: TERM, then KILL after 10 s."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)


def run_page(path: Path) -> dict[str, Any]:
    """Run every sample of the page; raise on the first failure."""
    workers: list[subprocess.Popen[bytes]] = []
    try:
        return _run_samples(path, workers)
    finally:
        for process in workers:
            _stop_worker(process)


def _run_samples(path: Path, workers: list[subprocess.Popen[bytes]]) -> dict[str, Any]:
    found = samples(path)
    work = Path(tempfile.mkdtemp(prefix=f"docs-{path.stem}-"))
    sys.path[:0] = [str(work)]
    namespace: dict[str, Any] = {"__name__": f"docs_{path.stem}", "WORK": work}
    shop_ready = False
    report: dict[str, Any] = {"ran": [], "not run": []}
    for sample in found:
        try:
            if sample.mode == "skip":
                report["not run"].append(f"{sample.where}: {sample.arg}")
                continue
            if sample.mode in ("run", "shop", "console", "worker"):
                if sample.mode == "shop" and not shop_ready:
                    _setup_shop(namespace)
                    shop_ready = True
                given, then = (_localize(code) for code in _given_then(sample.arg))
                code = _localize(sample.code)
                exec(compile(given, sample.where, "exec"), namespace)
                if sample.mode == "console":
                    namespace["result"] = _run_console(code, work)
                else:
                    exec(compile(code, sample.where, "exec"), namespace)
                if sample.mode == "worker":
                    module = namespace["__name__"]
                    workers.append(_start_worker(sample, f"{given}\n{code}", module, work))
                exec(compile(then, sample.where, "exec"), namespace)
            elif sample.mode == "file":
                (work / sample.arg).parent.mkdir(parents=True, exist_ok=True)
                (work / sample.arg).write_text(sample.code)
            elif sample.mode == "pytest":
                test = work / f"test_sample_{sample.line}.py"
                test.write_text(sample.code)
                proc = subprocess.run(
                    [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test.name],
                    cwd=work,
                    capture_output=True,
                    text=True,
                    timeout=120,
                    env={**os.environ, "PYTHONPATH": os.pathsep.join([str(work), str(ROOT)])},
                )
                if proc.returncode != 0:
                    raise AssertionError(proc.stdout[-3000:] + proc.stderr[-2000:])
            elif sample.mode == "install":
                site = work / "site"
                subprocess.run(
                    [sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                     "--target", str(site), str(work)],
                    check=True, capture_output=True, timeout=300,
                )  # fmt: skip
                sys.path.insert(0, str(site))
            elif sample.mode == "settings":
                _run_settings(sample)
            else:
                raise AssertionError(f"unknown sample mode {sample.mode!r}")
        except BaseException as exc:
            raise AssertionError(f"sample at {sample.where} failed: {exc!r}") from exc
        report["ran"].append(f"{sample.where} ({sample.mode})")
    return report


if __name__ == "__main__":
    if sys.argv[1] == "--settings":
        print(json.dumps(check_settings(sys.stdin.read())))
    else:
        sys.path.insert(0, str(ROOT))
        try:
            print("RESULT " + json.dumps(run_page(Path(sys.argv[1]))))
        finally:
            for work in Path(tempfile.gettempdir()).glob(f"docs-{Path(sys.argv[1]).stem}-*"):
                if str(work) in sys.path:  # this process's own work directory only
                    shutil.rmtree(work, ignore_errors=True)
