"""Real servers and scratch databases for accord's tests and for yours.

Everything here starts or checks a real service; nothing is faked.

- :mod:`accord.testing.servers`: :class:`RedisServer` and
  :class:`ZooKeeperServer` on free loopback ports, each with ``start()``,
  ``stop()``, ``kill()`` (SIGKILL), ``restart()`` (same port), ``pause()``,
  ``resume()``, and :func:`free_port`.
- :mod:`accord.testing.databases`: :class:`PostgresDatabases` (fresh
  databases on a server with ``max_prepared_transactions`` > 0) and
  :class:`MySQLDatabase` (InnoDB, XA), described by :class:`ScratchDatabase`.
- :mod:`accord.testing.postgres`: :class:`PostgresServer`, a private cluster
  from the installed binaries, and :func:`two_phase_postgres_url`, which
  finds (or starts) a server able to prepare transactions.
- :mod:`accord.testing.redis_ha`: :class:`~accord.testing.redis_ha.SentinelGroup`
  (a master, its replicas and three Sentinels, with ``kill_master()`` and
  ``wait_for_promotion()``) and :class:`~accord.testing.redis_ha.RedisClusterGroup`
  (three masters, three replicas), for tests of failover.
- :mod:`accord.testing.zookeeper_ensemble`:
  :class:`~accord.testing.zookeeper_ensemble.ZooKeeperEnsemble`, three
  ZooKeeper servers in one ensemble, with ``leader()``, ``kill_leader()``,
  ``kill_follower()``, ``wait_for_leader()`` and members to pause or restart.
- :mod:`accord.testing.campaign`: client processes that take a lock while
  faults hit its engine, and the history read into a report (Jepsen-style).
- :mod:`accord.testing.brokers`: :func:`check_amqp` for a RabbitMQ broker.
- :mod:`accord.testing.faults`: :class:`~accord.testing.faults.FaultProxy`, a
  TCP proxy that cuts a connection before a request or between request and
  reply, stalls one request, pauses, delays or refuses traffic, on cue;
  :mod:`accord.testing.wire` aims it at one request of the Redis or
  ZooKeeper protocol.
- :mod:`accord.testing.process`: also :func:`~accord.testing.process.paused`,
  a process frozen with SIGSTOP for a while.
- :mod:`accord.testing.history`: a fenced store that refuses stale tokens,
  an event history shared between processes; :mod:`accord.testing.invariants`:
  the invariants of a lock checked on them.
- :mod:`accord.testing.matrix`: the fault matrix's vocabulary and
  :class:`~accord.testing.matrix.CallFaults` (faults in calls inside a
  process); :mod:`accord.testing.lock_matrix`: every operation of a lock
  backend hit by every fault.
- :mod:`accord.testing.leftovers`: what a test session left behind.
- :mod:`accord.testing.standby`: :class:`~accord.testing.standby.PostgresStandby`,
  a streaming-replication hot standby of a private PostgreSQL cluster.
- :mod:`accord.testing.pytest_plugin`: pytest fixtures built on the above.
- :mod:`accord.testing.plugins`: register an accord plugin for one test.

A missing or broken service raises :class:`ServiceUnavailable` (from
:mod:`accord.core.errors`) naming the service and how to get it; the pytest
plugin turns it into a skip, or a failure when ``ACCORD_REQUIRE_SERVICES=1``.

Environment variables (defaults in brackets):

=====================================  ===========================================================
``ACCORD_REQUIRE_SERVICES``            ``1``: a missing service fails the test instead of skipping
``ACCORD_TEST_REDIS_SERVER``           the ``redis-server`` binary [``redis-server`` on ``PATH``]
``ACCORD_TEST_REDIS_CLI``              ``redis-cli``, which creates a Redis Cluster [on ``PATH``]
``ACCORD_TEST_ZOOKEEPER_CLASSPATH``    ZooKeeper's jars [``/usr/share/java/zookeeper.jar``]
``JAVA_HOME``                          the Java to run ZooKeeper [``java`` on ``PATH``]
``ACCORD_TEST_POSTGRES_URL``           a server to use as it is [unset: ``127.0.0.1:5432`` if it
                                       can prepare transactions, else a private cluster]
``ACCORD_TEST_POSTGRES_BINDIR``        where ``initdb`` and ``postgres`` are [found on ``PATH``
                                       or in ``/usr/lib/postgresql/<version>/bin``]
``ACCORD_TEST_MYSQL_URL``              [``mysql://root@127.0.0.1:3306/``]
``ACCORD_TEST_AMQP_URL``               [``amqp://guest:guest@127.0.0.1:5672//``]
``ACCORD_CAMPAIGN_SECONDS``            seconds per campaign scenario [12; 60 for the long run]
``ACCORD_CAMPAIGN_REPORT``             a file to write the campaign's table to [unset]
=====================================  ===========================================================

This package never imports pytest, Django or Celery, except
:mod:`accord.testing.pytest_plugin`, which imports pytest.
"""

from accord.testing._env import services_required
from accord.testing.brokers import check_amqp
from accord.testing.databases import MySQLDatabase, PostgresDatabases, ScratchDatabase
from accord.testing.errors import (
    HarnessError,
    HarnessTimeout,
    ServerMisbehaved,
    ServiceUnavailable,
)
from accord.testing.postgres import (
    PostgresServer,
    prepared_transactions_problem,
    shared_postgres,
    two_phase_postgres_url,
)
from accord.testing.redis_ha import RedisClusterGroup, SentinelGroup
from accord.testing.servers import LOOPBACK, RedisServer, ServerProcess, ZooKeeperServer, free_port
from accord.testing.zookeeper_ensemble import ZooKeeperEnsemble

__all__ = [
    "LOOPBACK",
    "HarnessError",
    "HarnessTimeout",
    "MySQLDatabase",
    "PostgresDatabases",
    "PostgresServer",
    "RedisClusterGroup",
    "RedisServer",
    "ScratchDatabase",
    "SentinelGroup",
    "ServerMisbehaved",
    "ServerProcess",
    "ServiceUnavailable",
    "ZooKeeperEnsemble",
    "ZooKeeperServer",
    "check_amqp",
    "free_port",
    "prepared_transactions_problem",
    "services_required",
    "shared_postgres",
    "two_phase_postgres_url",
]
