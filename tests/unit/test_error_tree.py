"""Every exception accord raises is in the one tree (``AccordError``), or is listed here.

The test reads every ``raise`` statement in ``accord/`` and resolves the
class it raises in the module's own namespace. A class outside the tree must
be in :data:`ALLOWED`, with the reason it is allowed: what the docs promise
instead (a documented re-raise of the user's own exception, Python's own
protocol errors such as ``AttributeError`` from ``__getattr__``, or a
private signal that never leaves accord).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import subprocess
import sys
from pathlib import Path

import accord
from accord.core.errors import AccordError

ROOT = Path(accord.__file__).parent

#: (module, class name) -> why it may be raised although it is not an AccordError.
ALLOWED: dict[tuple[str, str], str] = {
    ("*", "AttributeError"): "Python's protocol: a module __getattr__ for names that moved",
    ("*", "NotImplementedError"): "an abstract method of a harness base class",
    ("accord.testing.process", "AssertionError"): "a branch that cannot run (a bug if it does)",
    ("accord.contrib.celery.task", "Ignore"): (
        "Celery's documented signal to end a task without changing its state "
        "(a duplicate delivery that is not run)"
    ),
    ("accord.contrib.celery.task", "_Stop"): (
        "private: stops a publication whose key is held; caught in apply_async, never escapes"
    ),
    ("accord.contrib.django.cache.calls", "ValueError"): (
        "Django's cache API: incr()/decr() of a missing key raises ValueError (BaseCache)"
    ),
    ("accord.contrib.django.management.commands.accord_recover", "CommandError"): (
        "Django's way for a management command to exit with a message and status 1"
    ),
    ("accord.contrib.django.management.commands.accord_ring", "CommandError"): (
        "Django's way for a management command to exit with a message and status 1"
    ),
    ("accord.contrib.django.operations", "PermissionDenied"): (
        "Django's way for a view to answer 403 (a user without the operations permission)"
    ),
    ("accord.testing.process", "_PortTaken"): (
        "private: a server lost the race for its port; caught, the start is retried"
    ),
}


def _modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found.append((".".join(parts), path))
    return found


def _raised_names(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text())
    names = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Raise) or node.exc is None:
            continue
        exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
        if isinstance(exc, ast.Name):
            names.append((node.lineno, exc.id))
        elif isinstance(exc, ast.Attribute):
            names.append((node.lineno, ast.unparse(exc)))
    return names


def _resolve(module: object, dotted: str) -> object:
    value: object = module
    for i, part in enumerate(dotted.split(".")):
        if i == 0:
            namespace = vars(module)  # type: ignore[arg-type]
            if part in namespace:
                value = namespace[part]
                continue
            import builtins

            value = getattr(builtins, part, None)
        else:
            value = getattr(value, part, None)
        if value is None:
            return None
    return value


def outside_the_tree() -> list[str]:
    """Every ``raise`` of a class outside the tree and not in ALLOWED, as ``path:line raises X``."""
    outside = []
    for module_name, path in _modules():
        raised = _raised_names(path)
        if not raised:
            continue
        module = importlib.import_module(module_name)
        for line, name in raised:
            value = _resolve(module, name)
            if not (inspect.isclass(value) and issubclass(value, BaseException)):
                continue  # a variable holding an exception: a re-raise, not a new error
            if issubclass(value, AccordError):
                continue
            if (module_name, value.__name__) in ALLOWED or ("*", value.__name__) in ALLOWED:
                continue
            where = f"{path.relative_to(ROOT.parent)}:{line}"
            outside.append(f"{where} raises {value.__module__}.{value.__qualname__}")
    return outside


#: Django must be set up before the admin and management modules import.
_SCAN = """
import django
from django.conf import settings
settings.configure(
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth",
                    "django.contrib.admin", "accord.contrib.django"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
)
django.setup()
import sys
sys.path.insert(0, sys.argv[1])
from test_error_tree import outside_the_tree
print("\\n".join(outside_the_tree()))
"""


def test_every_exception_accord_raises_is_an_accord_error_or_allowed() -> None:
    scan = subprocess.run(
        [sys.executable, "-c", _SCAN, str(Path(__file__).parent)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert scan.returncode == 0, scan.stderr
    assert not scan.stdout.strip(), "exceptions outside the AccordError tree:\n" + scan.stdout


def test_every_allowed_exception_is_still_raised_somewhere() -> None:
    """An allowance whose raise is gone must go too, so the list stays the truth."""
    raised = {name.rsplit(".", 1)[-1] for _, p in _modules() for _, name in _raised_names(p)}
    stale = [key for key in ALLOWED if key[1] not in raised]
    assert not stale
