"""The error every RingCache setting mistake raises."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from accord.core.errors import ConfigurationError

__all__ = ["RingCacheConfigError"]


class RingCacheConfigError(ConfigurationError, ImproperlyConfigured):
    """A RingCache setting is invalid; the message says which, and what is accepted.

    It is both accord's :class:`~accord.core.errors.ConfigurationError` (so
    ``except AccordError`` catches it) and Django's ``ImproperlyConfigured``.
    :attr:`check_id` and :attr:`hint` are what the system check reports.
    Messages never contain a password.
    """

    def __init__(self, message: str, *, check_id: str, hint: str) -> None:
        super().__init__(f"{message} {hint}")
        self.message = message
        self.check_id = check_id
        self.hint = hint
