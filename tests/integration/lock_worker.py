"""A separate process that uses a lock, for the multi-process lock tests.

Not a test module: ``python lock_worker.py MODE URL NAME OPTIONS_JSON ...``.

* ``count COUNTER N``: N times, under the lock, read the integer in file
  COUNTER, sleep a little, write it back plus one; print ``token value`` per
  round (a lost update shows as a final value below the total).
* ``hold TTL``: acquire with lease TTL, print ``held TOKEN``, then sleep until killed.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from accord.core.lock import Lock


def count(url: str, name: str, options: dict[str, object], counter: Path, rounds: int) -> None:
    lock = Lock(name, url, ttl=10, options=options)
    for _ in range(rounds):
        with lock:
            value = int(counter.read_text() or "0")
            time.sleep(0.001)  # widen the window a lost update would need
            counter.write_text(str(value + 1))
            print(lock.token, value + 1, flush=True)


def hold(url: str, name: str, options: dict[str, object], ttl: float) -> None:
    lock = Lock(name, url, ttl=ttl, options=options)
    lock.acquire()
    print("held", lock.token, flush=True)
    time.sleep(3600)


if __name__ == "__main__":
    mode, url, name, raw = sys.argv[1:5]
    opts = json.loads(raw)
    if mode == "count":
        count(url, name, opts, Path(sys.argv[5]), int(sys.argv[6]))
    else:
        hold(url, name, opts, float(sys.argv[5]))
