"""Run Django's own cache test suite (``BaseCacheTests``) against RingCache.

Django's suite is not installed with Django: this script fetches the source
distribution of the installed Django version once with
``pip download --no-binary :all: --no-deps django==<version>`` and keeps
``tests/cache/`` in ``$ACCORD_DJANGO_TESTS_DIR`` (default
``~/.cache/accord/django-tests/<version>``). Nothing is committed.

Usage (the pytest wrapper ``test_cache_django_suite.py`` does this)::

    python tests/integration/cache/django_suite.py RESULTS.json redis://... redis://... ...
    python tests/integration/cache/django_suite.py --list   # print the test names

It runs in its own process because it configures Django settings of its
own. The cull caches are excluded exactly as Django excludes them for its
``RedisCache`` (Redis evicts by itself), so the three cull tests skip.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import tempfile
import unittest
from pathlib import Path
from typing import Any

EXCLUDED_CACHES = {"cull", "zero_cull"}


def tests_dir() -> Path:
    """Django's ``tests/`` directory holding ``cache/``, fetched if needed."""
    import django

    version = django.get_version()
    default = Path.home() / ".cache" / "accord" / "django-tests"
    root = Path(os.environ.get("ACCORD_DJANGO_TESTS_DIR", default)) / version
    target = root / "tests"
    if (target / "cache" / "tests.py").exists():
        return target
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                *(sys.executable, "-m", "pip", "download", "--quiet", "--no-binary", ":all:"),
                *("--no-deps", f"django=={version}", "-d", tmp),
            ],
            check=True,
        )
        (archive,) = Path(tmp).glob("*.tar.gz")
        with tarfile.open(archive) as tar:
            prefix = f"{tar.getnames()[0].split('/')[0]}/tests/cache/"
            for member in tar.getmembers():
                if member.name.startswith(prefix) and member.isfile():
                    data = tar.extractfile(member)
                    assert data is not None
                    path = target / "cache" / member.name[len(prefix) :]
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(data.read())
    return target


def base_test_names() -> list[str]:
    """The test method names of ``BaseCacheTests``, read without importing Django's tests."""
    import ast

    tree = ast.parse((tests_dir() / "cache" / "tests.py").read_text())
    (cls,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "BaseCacheTests"]
    return [
        n.name for n in cls.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")
    ]


def run(urls: list[str]) -> dict[str, dict[str, str]]:
    """Run the suite over *urls*; return ``{test name: {"outcome": ..., "detail": ...}}``."""
    sys.path.insert(0, str(tests_dir()))
    import django
    from django.conf import settings

    ring = {"BACKEND": "accord.contrib.django.cache.RingCache", "LOCATION": urls}
    settings.configure(
        SECRET_KEY="django-suite",
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "cache"],
        CACHES={"default": ring},
        USE_TZ=False,
    )
    django.setup()
    import redis
    from cache.tests import BaseCacheTests, caches_setting_for_tests
    from django.test import TestCase, override_settings
    from django.test.runner import DiscoverRunner

    @override_settings(
        CACHES=caches_setting_for_tests(base=ring, exclude=EXCLUDED_CACHES),
    )
    class RingCacheTests(BaseCacheTests, TestCase):  # type: ignore[misc]
        # What Django's own RedisCacheTests expects of incr() on a non-integer.
        incr_decr_type_error = redis.ResponseError

    runner = DiscoverRunner(verbosity=0, interactive=False)
    runner.setup_test_environment()
    old = runner.setup_databases()
    try:
        suite = unittest.defaultTestLoader.loadTestsFromTestCase(RingCacheTests)
        result = _Collecting()
        suite.run(result)
    finally:
        runner.teardown_databases(old)
        runner.teardown_test_environment()
    return result.outcomes


class _Collecting(unittest.TestResult):
    def __init__(self) -> None:
        super().__init__()
        self.outcomes: dict[str, dict[str, str]] = {}

    def _put(self, test: Any, outcome: str, detail: str = "") -> None:
        name = test.id().rsplit(".", 1)[-1]
        if outcome == "passed" and name in self.outcomes:
            return  # a subTest already failed it
        self.outcomes[name] = {"outcome": outcome, "detail": detail}

    def addSuccess(self, test: Any) -> None:
        self._put(test, "passed")

    def addFailure(self, test: Any, err: Any) -> None:
        self._put(test, "failed", self._exc_info_to_string(err, test))

    def addError(self, test: Any, err: Any) -> None:
        self._put(test, "error", self._exc_info_to_string(err, test))

    def addSkip(self, test: Any, reason: str) -> None:
        self._put(test, "skipped", reason)

    def addSubTest(self, test: Any, subtest: Any, err: Any) -> None:
        if err is not None:
            self._put(test, "failed", self._exc_info_to_string(err, test))


if __name__ == "__main__":
    if sys.argv[1:] == ["--list"]:
        print("\n".join(base_test_names()))
    else:
        outcomes = run(sys.argv[2:])
        Path(sys.argv[1]).write_text(json.dumps(outcomes, indent=1))
