"""Background cache traffic that checks every read against the last write.

Each worker thread owns its keys, writes them increasing numbers and reads
them back (``get`` and ``get_many``). A read may miss (None) but never return
a number older than the last ``set`` that returned before the read began:
that would be a stale read. Every exception reaching the caller is kept.
"""

from __future__ import annotations

import threading
import time
from typing import Any


class CheckedTraffic:
    """``with CheckedTraffic(cache, keys):`` runs workers until the block ends."""

    def __init__(self, cache: Any, keys: list[str], *, workers: int = 3) -> None:
        self.cache = cache
        self.errors: list[BaseException] = []
        self.stale: list[tuple[str, Any, int]] = []
        self.reads = 0
        self.hits = 0
        self.writes = 0
        self.hits_after: dict[float, int] = {}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        shares = [keys[i::workers] for i in range(workers)]
        self._threads = [threading.Thread(target=self._run, args=(s,), daemon=True) for s in shares]

    def _run(self, keys: list[str]) -> None:
        last = dict.fromkeys(keys, -1)
        counter = 0
        while not self._stop.is_set():
            counter += 1
            for key in keys:
                try:
                    self.cache.set(key, counter)
                    last[key] = counter
                    self._check(key, self.cache.get(key), last[key])
                except Exception as exc:
                    with self._lock:
                        self.errors.append(exc)
            try:
                found = self.cache.get_many(keys)
            except Exception as exc:
                with self._lock:
                    self.errors.append(exc)
                continue
            for key in keys:
                self._check(key, found.get(key), last[key])

    def _check(self, key: str, value: Any, floor: int) -> None:
        with self._lock:
            self.reads += 1
            self.writes += 1
            if value is None:
                return
            self.hits += 1
            if value < floor:
                self.stale.append((key, value, floor))

    def mark(self) -> int:
        """The number of hits so far (to compare with a later count)."""
        with self._lock:
            return self.hits

    def __enter__(self) -> CheckedTraffic:
        for thread in self._threads:
            thread.start()
        time.sleep(0.5)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)
