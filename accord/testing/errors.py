"""The one error :mod:`accord.testing` raises about the machine, not about accord."""

from __future__ import annotations

from accord.core.errors import AccordError

__all__ = ["ServiceUnavailable"]


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
