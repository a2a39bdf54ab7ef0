"""A missing service skips the tests that need it, naming it; ACCORD_REQUIRE_SERVICES=1 fails them.

Each case points a fixture at something that does not exist (a binary, a jar,
a closed port), so no server is needed.
"""

from __future__ import annotations

import pickle

import pytest

from accord.core.errors import AccordError
from accord.testing import free_port, prepared_transactions_problem
from accord.testing.errors import ServiceUnavailable

CLOSED = f"127.0.0.1:{free_port()}"  # nothing listens there: connections are refused

MISSING = {
    "redis_server": ("ACCORD_TEST_REDIS_SERVER", "/nonexistent/redis-server", "Redis"),
    "zookeeper_server": (
        "ACCORD_TEST_ZOOKEEPER_CLASSPATH",
        "/nonexistent/zookeeper.jar",
        "ZooKeeper",
    ),
    "postgres_databases": (
        "ACCORD_TEST_POSTGRES_URL",
        f"postgresql://postgres@{CLOSED}/postgres",
        "PostgreSQL",
    ),
    "mysql_database": ("ACCORD_TEST_MYSQL_URL", f"mysql://root@{CLOSED}/", "MariaDB/MySQL"),
    "amqp_broker_url": ("ACCORD_TEST_AMQP_URL", f"amqp://guest:guest@{CLOSED}//", "RabbitMQ"),
}


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest('pytest_plugins = ["accord.testing.pytest_plugin"]')
    pytester.makepyfile(
        "\n".join(f"def test_{name}({name}):\n    pass\n" for name in MISSING)
        + "\ndef test_redis_nodes(redis_nodes):\n    redis_nodes(2)\n"
    )
    return pytester


def _run(suite: pytest.Pytester, *args: str) -> pytest.RunResult:
    # Entry-point plugins (hypothesis's costs ~1 s per run) add nothing here.
    return suite.runpytest("-p", "no:hypothesispytest", "-p", "no:cacheprovider", *args)


def _point_everything_at_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable, value, _ in MISSING.values():
        monkeypatch.setenv(variable, value)


def test_missing_services_skip_with_a_reason_naming_each(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    _point_everything_at_nothing(monkeypatch)
    monkeypatch.delenv("ACCORD_REQUIRE_SERVICES", raising=False)
    result = _run(suite, "-rs")
    result.assert_outcomes(skipped=len(MISSING) + 1)
    for _, value, service in MISSING.values():
        result.stdout.fnmatch_lines([f"SKIPPED*{service} is not available*"])
        if service != "PostgreSQL":  # psycopg names host and port, not the URL
            result.stdout.fnmatch_lines([f"SKIPPED*{value.split('@')[-1].rstrip('/')}*"])


def test_missing_services_fail_when_services_are_required(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    _point_everything_at_nothing(monkeypatch)
    monkeypatch.setenv("ACCORD_REQUIRE_SERVICES", "1")
    result = _run(
        suite,
    )
    result.assert_outcomes(errors=len(MISSING), failed=1)
    result.stdout.fnmatch_lines(["*Redis is not available*ACCORD_REQUIRE_SERVICES=1*"])
    result.stdout.fnmatch_lines(["*ZooKeeper is not available*ACCORD_REQUIRE_SERVICES=1*"])


def test_a_missing_redis_binary_names_how_to_get_it(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    _point_everything_at_nothing(monkeypatch)
    result = _run(suite, "-rs", "-k", "test_redis_server")
    result.stdout.fnmatch_lines(["*apt-get install redis-server*ACCORD_TEST_REDIS_SERVER*"])


def test_a_missing_zookeeper_names_how_to_get_it(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    _point_everything_at_nothing(monkeypatch)
    result = _run(suite, "-rs", "-k", "test_zookeeper_server")
    result.stdout.fnmatch_lines(["*apt-get install zookeeper*ACCORD_TEST_ZOOKEEPER_CLASSPATH*"])


def test_zero_prepared_transactions_says_how_to_enable_them() -> None:
    problem = prepared_transactions_problem(0)
    assert problem is not None
    assert "max_prepared_transactions is 0" in problem
    assert "ALTER SYSTEM SET max_prepared_transactions" in problem
    assert "restart" in problem


def test_some_prepared_transactions_are_enough() -> None:
    assert prepared_transactions_problem(64) is None


def test_service_unavailable_names_the_service_and_the_reason() -> None:
    exc = ServiceUnavailable("Redis", "install it")
    assert isinstance(exc, AccordError)
    assert str(exc) == "Redis is not available: install it"
    assert (exc.service, exc.reason) == ("Redis", "install it")


def test_service_unavailable_survives_pickling() -> None:
    exc = pickle.loads(pickle.dumps(ServiceUnavailable("ZooKeeper", "no java")))
    assert str(exc) == "ZooKeeper is not available: no java"
