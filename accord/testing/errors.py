"""The errors :mod:`accord.testing` raises: about the machine and the harness, not about accord."""

from __future__ import annotations

from accord.core.errors import AccordError

__all__ = ["HarnessError", "HarnessTimeout", "ServerMisbehaved", "ServiceUnavailable"]


class ServiceUnavailable(AccordError):
    """A server that a test needs is missing, unreachable or would not start.

    Raised by :mod:`accord.testing`. ``service`` names the server (e.g.
    ``"Redis"``), ``reason`` says what went wrong and how to get it; the
    message combines both. The pytest plugin turns it into a skip, or into a
    failure when ``ACCORD_REQUIRE_SERVICES=1``.

    It used to live in :mod:`accord.core.errors`; importing it from there
    still works and warns (see "Changes" in the docs).
    """

    def __init__(self, service: str, reason: str) -> None:
        super().__init__(service, reason)  # both in args, so it pickles
        self.service = service
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.service} is not available: {self.reason}"


class HarnessError(AccordError, RuntimeError):
    """The test toolbox was used out of order, or a server it drives misbehaved.

    E.g. asking a fault proxy for its port before it started, or a cluster
    with no live master for a slot. A ``RuntimeError``, as before it had a
    class of its own.
    """


class HarnessTimeout(HarnessError, TimeoutError):
    """Something the toolbox waits for (a failover, a new leader) did not happen in time."""


class ServerMisbehaved(HarnessError, OSError):
    """A server the toolbox drives answered a command with an error (an ``OSError``)."""
