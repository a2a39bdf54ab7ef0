"""How a singleton task call becomes its key: canonical, whatever the calling style.

Failure behaviour first: a ``key=`` option that names arguments the task does
not take, or is neither a list of names nor a callable, raises
:class:`~accord.core.errors.ConfigurationError` when the task is declared. A
call whose key arguments cannot be serialised canonically (or that does not
fit the task's signature) raises :class:`~accord.core.errors.TaskKeyError`
at call time, naming the argument, the type of its value and what is
accepted; nothing is enqueued. No message here shows an argument's value: an
argument may be a secret, and a ``TaskKeyError`` raised in the worker is
stored in the result backend (and callers log what they catch).

The key is the task name plus the canonical JSON (sorted keys, no spaces,
tuples as lists) of the arguments bound to the function's signature with
defaults applied, so ``f(1, month=2)``, ``f(account_id=1, month=2)`` and
``f(1, 2)`` have one key. The lock name is a digest of the key, so that
long arguments make no long lock names.
"""

from __future__ import annotations

import datetime
import decimal
import hashlib
import inspect
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from accord.core.errors import ConfigurationError, TaskKeyError

__all__ = ["KeySpec", "canonical", "lock_name"]

_ACCEPTED = (
    "str, int, float (finite), bool, None, UUID, Decimal, date/datetime/time, "
    "and lists, tuples and dicts (with str keys) of these"
)


def _plain(value: Any, where: str) -> Any:
    """*value* as JSON-native data, or TaskKeyError naming *where*."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise TaskKeyError(
                f"{where} is a float that is not finite (nan or infinity): it cannot be part "
                f"of a singleton key. Accepted: {_ACCEPTED}"
            )
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TaskKeyError(
                    f"{where} is a dict with a key of type {type(k).__name__}; a singleton "
                    f"key accepts dicts with str keys only. Accepted values: {_ACCEPTED}"
                )
            out[k] = _plain(v, f"{where}[...]")
        return out
    if isinstance(value, uuid.UUID):
        return {"$uuid": str(value)}
    if isinstance(value, decimal.Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, (datetime.date, datetime.time)):  # datetime is a date
        return {"$" + type(value).__name__: value.isoformat()}
    raise TaskKeyError(
        f"{where} is of type {_type_name(value)}, which cannot be part of a singleton key: "
        f"it has no canonical form. Accepted: {_ACCEPTED}. Leave it out with key=[...] "
        "or compute the key with key=callable."
    )


def _type_name(value: Any) -> str:
    kind = type(value)
    if kind.__module__ == "builtins":
        return kind.__qualname__
    return f"{kind.__module__}.{kind.__qualname__}"


#: Made once: ``json.dumps`` with options builds an encoder per call.
_encode = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode

#: Values that are their own canonical form (bool is an int).
_NATIVE = (str, int, type(None))


def canonical(value: Any, where: str = "key") -> str:
    """The canonical JSON text of *value*; TaskKeyError (naming *where*) if it has none."""
    return _encode(_plain(value, where))


class KeySpec:
    """Computes the key of a call of one task.

    :param task_name: the Celery task name (part of every key).
    :param function: the task's function (its signature binds the arguments).
    :param key: ``None`` (all arguments), a list of argument names (``()``:
        one per task name), or a callable taking the task's arguments and
        returning the key (any value :func:`canonical` accepts).
    :raises ConfigurationError: *key* names arguments *function* does not take,
        or is of another type.
    """

    def __init__(self, task_name: str, function: Callable[..., Any], key: Any) -> None:
        self.task_name = task_name
        self.signature = inspect.signature(function)
        parameters = self.signature.parameters.values()
        #: The parameter names, when every one is positional-or-keyword: a call
        #: with all of them positional then binds without ``Signature.bind``.
        self._positional: tuple[str, ...] | None = None
        if all(p.kind is p.POSITIONAL_OR_KEYWORD for p in parameters):
            self._positional = tuple(self.signature.parameters)
        self._prefix = f"{task_name}:"
        self._where = f"of task {task_name!r}"
        self.names: tuple[str, ...] | None = None
        self.function: Callable[..., Any] | None = None
        if callable(key):
            self.function = key
        elif isinstance(key, str):
            raise ConfigurationError(
                f"key={key!r} of task {task_name!r} is invalid: expected a list of argument "
                f"names such as [{key!r}], a callable, () or None."
            )
        elif isinstance(key, Sequence):
            params = list(self.signature.parameters)
            bad = [name for name in key if name not in params]
            if bad:
                raise ConfigurationError(
                    f"key={list(key)!r} of task {task_name!r} names {bad}, which the task "
                    f"does not take; its arguments are {params}."
                )
            self.names = tuple(key)
        elif key is not None:
            raise ConfigurationError(
                f"key={key!r} of task {task_name!r} is invalid: expected None (all "
                "arguments), a list of argument names, () (one per task name) or a callable."
            )

    def bind(self, args: Sequence[Any], kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """The call's arguments by name, defaults applied; TaskKeyError if they do not fit."""
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError as exc:  # its message names parameters, never values
            raise TaskKeyError(
                f"task {self.task_name!r} called with arguments that do not fit its "
                f"signature {self.signature}: {exc}; got {len(args)} positional arguments "
                f"and the keyword arguments {sorted(kwargs)}."
            ) from None
        bound.apply_defaults()
        return dict(bound.arguments)

    def key(self, args: Sequence[Any] | None, kwargs: Mapping[str, Any] | None) -> str:
        """The key of a call with *args* and *kwargs* (see the module docstring)."""
        args, kwargs = args or (), kwargs or {}
        if self.function is not None:
            value = self.function(*args, **kwargs)
            return f"{self.task_name}:{canonical(value, f'key of task {self.task_name!r}')}"
        names = self._positional
        if names is not None and not kwargs and len(args) == len(names):
            arguments = dict(zip(names, args, strict=True))  # the common call, as bind() gives
        else:
            arguments = self.bind(args, kwargs)
        if self.names is not None:
            arguments = {name: arguments[name] for name in self.names}
        parts = {
            name: value
            if type(value) in _NATIVE
            else _plain(value, f"argument {name!r} {self._where}")
            for name, value in arguments.items()
        }  # type(): a subclass of str or int (an enum) takes the checked path
        return self._prefix + _encode(parts)


def lock_name(key: str) -> str:
    """The lock name for *key*: bounded in length, readable at the start."""
    task_name = key.partition(":")[0]
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return f"celery:{task_name}:{digest}"
