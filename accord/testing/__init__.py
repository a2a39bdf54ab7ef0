"""Real servers and scratch databases for accord's tests and for yours.

Everything here starts or checks a real service; nothing is faked.

- :mod:`accord.testing.servers`: :class:`RedisServer` and
  :class:`ZooKeeperServer` on free loopback ports, each with ``start()``,
  ``stop()``, ``kill()`` (SIGKILL), ``restart()`` (same port), ``pause()``,
  ``resume()``, and :func:`free_port`.
- :mod:`accord.testing.databases`: :class:`PostgresDatabases` (fresh
  databases on a server with ``max_prepared_transactions`` > 0) and
  :class:`MySQLDatabase` (InnoDB, XA), described by :class:`ScratchDatabase`.
- :mod:`accord.testing.brokers`: :func:`check_amqp` for a RabbitMQ broker.
- :mod:`accord.testing.pytest_plugin`: pytest fixtures built on the above.
- :mod:`accord.testing.plugins`: register an accord plugin for one test.

A missing or broken service raises :class:`ServiceUnavailable` (from
:mod:`accord.core.errors`) naming the service and how to get it; the pytest
plugin turns it into a skip, or a failure when ``ACCORD_REQUIRE_SERVICES=1``.

Environment variables (defaults in brackets):

=====================================  ===========================================================
``ACCORD_REQUIRE_SERVICES``            ``1``: a missing service fails the test instead of skipping
``ACCORD_TEST_REDIS_SERVER``           the ``redis-server`` binary [``redis-server`` on ``PATH``]
``ACCORD_TEST_ZOOKEEPER_CLASSPATH``    ZooKeeper's jars [``/usr/share/java/zookeeper.jar``]
``JAVA_HOME``                          the Java to run ZooKeeper [``java`` on ``PATH``]
``ACCORD_TEST_POSTGRES_URL``           [``postgresql://postgres@127.0.0.1:5432/postgres``]
``ACCORD_TEST_MYSQL_URL``              [``mysql://root@127.0.0.1:3306/``]
``ACCORD_TEST_AMQP_URL``               [``amqp://guest:guest@127.0.0.1:5672//``]
=====================================  ===========================================================

This package never imports pytest, Django or Celery, except
:mod:`accord.testing.pytest_plugin`, which imports pytest.
"""

from accord.core.errors import ServiceUnavailable
from accord.testing._env import services_required
from accord.testing.brokers import check_amqp
from accord.testing.databases import (
    MySQLDatabase,
    PostgresDatabases,
    ScratchDatabase,
    prepared_transactions_problem,
)
from accord.testing.servers import LOOPBACK, RedisServer, ServerProcess, ZooKeeperServer, free_port

__all__ = [
    "LOOPBACK",
    "MySQLDatabase",
    "PostgresDatabases",
    "RedisServer",
    "ScratchDatabase",
    "ServerProcess",
    "ServiceUnavailable",
    "ZooKeeperServer",
    "check_amqp",
    "free_port",
    "prepared_transactions_problem",
    "services_required",
]
