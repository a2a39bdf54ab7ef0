"""Message brokers for Celery tests: check that RabbitMQ answers, delete the queues a test made.

Failure behaviour first: :func:`check_amqp` raises
:class:`~accord.testing.errors.ServiceUnavailable` when kombu is missing or the
broker refuses or does not answer within the timeout; it never returns an
unchecked URL. The broker is found through ``ACCORD_TEST_AMQP_URL``
[``amqp://guest:guest@127.0.0.1:5672//``]. For a Redis broker, start a
:class:`~accord.testing.servers.RedisServer` and use its ``url``.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess

from accord.core.urls import redact
from accord.testing import _env
from accord.testing.errors import ServiceUnavailable

__all__ = ["check_amqp", "delete_queue", "rabbitmq_queues"]

RABBITMQ = "RabbitMQ"


def check_amqp(url: str | None = None, *, timeout: float = 5.0) -> str:
    """Open and close a real kombu connection to ``url`` (default from the environment).

    Returns the URL. Raises :class:`ServiceUnavailable` naming RabbitMQ if kombu
    is not installed or the broker cannot be reached or refuses the login.
    """
    url = url or _env.url_from_env(_env.AMQP_URL)
    try:
        from kombu import Connection
    except ImportError:
        raise ServiceUnavailable(
            RABBITMQ, "kombu is not installed: pip install 'accord[celery]'"
        ) from None
    conn = Connection(url, connect_timeout=timeout)
    try:
        # One attempt: kombu's own connect() retries with a pause in between.
        conn.ensure_connection(
            max_retries=1, interval_start=0, interval_step=0, timeout=int(max(timeout, 1))
        )
    except Exception as exc:  # kombu/amqp raise socket, auth and protocol errors alike
        raise ServiceUnavailable(
            RABBITMQ,
            f"cannot connect to {redact(url)} ({exc!r}); start RabbitMQ "
            f"(Debian/Ubuntu: apt-get install rabbitmq-server) or set {_env.AMQP_URL}",
        ) from exc
    finally:
        conn.release()
    return url


def delete_queue(url: str, name: str) -> None:
    """Delete the queue ``name`` on the broker at ``url`` (AMQP or Redis), with its messages.

    For the queue a test's own worker consumed from: Celery declares it
    durable, so it outlives the worker. Never raises: it is cleanup.
    """
    try:
        from kombu import Connection
    except ImportError:
        return
    with contextlib.suppress(Exception), Connection(url, connect_timeout=5) as conn:
        conn.default_channel.queue_delete(name)  # type: ignore[attr-defined]


def rabbitmq_queues() -> set[str] | None:
    """The names of the queues on the local RabbitMQ (vhost ``/``), or None if unknowable.

    Read with ``rabbitmqctl`` (about 1 s), which needs to run on the broker's
    machine as root or the broker's user; None when it is absent or refuses.
    """
    ctl = shutil.which("rabbitmqctl")
    if ctl is None:
        return None
    try:
        result = subprocess.run(
            [ctl, "-q", "list_queues", "name", "--no-table-headers"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 0:
        return None
    return {line.strip() for line in result.stdout.splitlines() if line.strip()}
