"""The fault matrix: every backend, operation and fault; the invariants hold (real servers).

Each case is a short scenario of :mod:`accord.testing.lock_matrix` (a
victim whose requests are cut or stalled, a rival, a probe), checked on its
recorded history by :func:`accord.testing.invariants.check_lock`: never two
holders at once (by fencing tokens), no lock held by nobody longer than its
lease, every loss noticed with a reason within one renewal interval.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from accord.core.lock import base
from accord.testing import lock_matrix
from accord.testing.lock_matrix import OPERATIONS, LockTarget
from accord.testing.matrix import FAULTS, cases


@pytest.fixture
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LockTarget]:
    kind = request.param
    if kind == "memory":
        made = lock_matrix.memory_target(uuid.uuid4().hex)
    elif kind == "file":
        (tmp_path / "locks").mkdir()
        made = lock_matrix.file_target(tmp_path / "locks")
    elif kind == "redis":
        made = lock_matrix.redis_target(request.getfixturevalue("redis_server").port)
    else:
        pytest.importorskip("kazoo")
        made = lock_matrix.zookeeper_target(request.getfixturevalue("zookeeper_server").port)
    yield made
    base.clear_backend_cache()
    made.close()


MATRIX = [
    pytest.param(kind, operation, fault, id=f"{kind}-{operation}-{fault}")
    for kind, operation, fault in cases(
        ("memory", "file", "redis", "zookeeper"), OPERATIONS, FAULTS
    )
]


@pytest.mark.parametrize(("target", "operation", "fault"), MATRIX, indirect=["target"])
def test_the_invariants_hold(
    target: LockTarget, operation: str, fault: str, tmp_path: Path
) -> None:
    report = lock_matrix.run_case(target, operation, fault, tmp_path)
    assert report.findings == [], report.explain()


@pytest.mark.parametrize("kind", ["file", "redis", "zookeeper"])
def test_a_holder_process_paused_past_its_lease_does_no_harm(
    request: pytest.FixtureRequest, kind: str, tmp_path: Path
) -> None:
    options: dict[str, Any] = {}
    if kind == "file":
        (tmp_path / "locks").mkdir()
        url, lease = f"file://{tmp_path / 'locks'}", 0.6
    elif kind == "redis":
        url, lease = f"{request.getfixturevalue('redis_server').url}/0", 0.6
    else:
        pytest.importorskip("kazoo")
        url = f"zookeeper://{request.getfixturevalue('zookeeper_server').hosts}"
        options, lease = {"session_timeout": 2.0}, 2.0
    work = tmp_path / "work"
    work.mkdir()
    report = lock_matrix.run_paused_holder(url, options, work, ttl=0.6, lease=lease)
    base.clear_backend_cache()
    assert report.findings == [], report.explain()
