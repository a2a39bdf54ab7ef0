"""The fault matrix's vocabulary, and faults injected into in-process calls.

Failure behaviour first: :class:`CallFaults` raises what its ``error``
factory makes (an injected fault), never anything else of its own; an
unknown fault kind or method name is a :class:`ValueError` when armed.

A fault matrix hits every operation of a component with every kind of
fault, then checks invariants on the recorded history
(:mod:`accord.testing.invariants`). The kinds are the same everywhere:

================  ================================================================
``cut-before``    the request never reaches the server: the connection is cut first
``cut-after``     the server executes the request, the reply is lost with the connection
``pause``         the request is held for longer than the lease, then goes through
================  ================================================================

Over a network they are :class:`~accord.testing.faults.FaultProxy` faults
(``cut_before``, ``cut_after``, ``pause_on``) aimed at one request with
:mod:`accord.testing.wire`. In a process (the memory and file lock
backends, a 2PC participant, a cache client under test) :class:`CallFaults`
does the same to method calls: the call is not made, made and then
reported failed, or made late.

:func:`cases` builds the matrix's parameters for ``pytest.mark.parametrize``.
"""

from __future__ import annotations

import functools
import itertools
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from accord.core.errors import ConfigurationError

__all__ = ["FAULTS", "CallFaults", "cases"]

#: The kinds of fault every operation is hit by.
FAULTS = ("cut-before", "cut-after", "pause")


def cases(*axes: Iterable[str]) -> Iterator[tuple[str, ...]]:
    """Every combination of the *axes* (backends, operations, ``FAULTS``), in order."""
    return itertools.product(*axes)


@dataclass
class _Armed:
    method: str
    kind: str
    seconds: float
    when: Callable[..., bool] | None


class CallFaults:
    """A proxy for *target* whose method calls can be made to fail on cue, once each.

    ``faulty = CallFaults(backend, error=lambda what: LockBackendError(what))``
    behaves as *target* until :meth:`arm` is called; then the next call of
    that method (for which ``when(*args, **kwargs)`` is true, if given) is
    hit by the fault:

    * ``cut-before``: not made; ``error(description)`` is raised;
    * ``cut-after``: made, then ``error(description)`` is raised instead of
      its result (the caller cannot tell it happened);
    * ``pause``: made after ``seconds`` (the caller's thread stalls first).

    Attributes that are not methods are read from *target*. Thread-safe.
    """

    def __init__(self, target: Any, *, error: Callable[[str], BaseException]) -> None:
        self._target = target
        self._error = error
        self._armed: list[_Armed] = []
        self._lock = threading.Lock()
        self._fired = threading.Condition(self._lock)
        self.fired = 0

    def arm(
        self,
        method: str,
        kind: str,
        *,
        seconds: float = 0.0,
        when: Callable[..., bool] | None = None,
    ) -> None:
        """Hit the next call of *method* (matching *when*) with a fault of *kind* (see FAULTS)."""
        if kind not in FAULTS:
            raise ConfigurationError(f"fault kind {kind!r} is invalid: expected one of {FAULTS}")
        if not callable(getattr(self._target, method, None)):
            raise ConfigurationError(f"{type(self._target).__name__} has no method {method!r}")
        if kind == "pause" and seconds <= 0:
            raise ConfigurationError(f"a pause needs seconds > 0, got {seconds!r}")
        with self._lock:
            self._armed.append(_Armed(method, kind, seconds, when))

    def heal(self) -> None:
        """Disarm what has not fired."""
        with self._lock:
            self._armed.clear()

    def wait_fired(self, count: int = 1, timeout: float = 10.0) -> bool:
        """Wait until at least *count* faults fired; False on timeout."""
        with self._fired:
            return self._fired.wait_for(lambda: self.fired >= count, timeout)

    def _take(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Armed | None:
        with self._lock:
            for armed in self._armed:
                if armed.method == method and (armed.when is None or armed.when(*args, **kwargs)):
                    self._armed.remove(armed)
                    self.fired += 1
                    self._fired.notify_all()
                    return armed
        return None

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._target, name)
        if not callable(attribute):
            return attribute

        @functools.wraps(attribute)
        def call(*args: Any, **kwargs: Any) -> Any:
            armed = self._take(name, args, kwargs)
            if armed is None:
                return attribute(*args, **kwargs)
            what = f"injected {armed.kind} fault on {name}()"
            if armed.kind == "cut-before":
                raise self._error(what)
            if armed.kind == "pause":
                time.sleep(armed.seconds)
                return attribute(*args, **kwargs)
            attribute(*args, **kwargs)
            raise self._error(what)

        return call
