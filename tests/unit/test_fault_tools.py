"""Protocol matchers and in-process faults of the fault toolbox (no servers needed)."""

from __future__ import annotations

import struct
import time

import pytest

from accord.testing.matrix import FAULTS, CallFaults, cases
from accord.testing.wire import redis_command, zookeeper_request


def resp(*args: str) -> bytes:
    out = b"*%d\r\n" % len(args)
    for arg in args:
        out += b"$%d\r\n%s\r\n" % (len(arg), arg.encode())
    return out


def zk(kind: int, path: str) -> bytes:
    body = struct.pack(">ii", 7, kind) + struct.pack(">i", len(path)) + path.encode()
    return struct.pack(">i", len(body)) + body


def test_redis_command_matches_a_command_and_its_first_arguments_in_a_pipeline() -> None:
    batch = resp("PING") + resp("EVALSHA", "abc", "1", "key")
    assert redis_command("evalsha", "abc")(batch)
    assert not redis_command("EVALSHA", "abd")(batch)
    assert not redis_command("BLPOP")(batch)
    assert not redis_command("PING")(b"*1\r\n$4\r\nPI")  # incomplete: no match


def test_zookeeper_request_matches_the_type_and_path_prefix() -> None:
    chunk = zk(11, "") + zk(2, "/accord/locks/job/lock-1")
    assert zookeeper_request("delete", "/accord/locks/job/")(chunk)
    assert not zookeeper_request("delete", "/accord/locks/other/")(chunk)
    assert not zookeeper_request(("create", "create2"))(chunk)
    with pytest.raises(ValueError, match="unknown ZooKeeper request types"):
        zookeeper_request("remove")


class Box:
    def __init__(self) -> None:
        self.calls: list[int] = []

    def put(self, value: int) -> int:
        self.calls.append(value)
        return value


def test_call_faults_cut_before_cut_after_and_pause_once_each() -> None:
    box = Box()
    faulty = CallFaults(box, error=RuntimeError)
    faulty.arm("put", "cut-before")
    with pytest.raises(RuntimeError, match="injected cut-before"):
        faulty.put(1)
    faulty.arm("put", "cut-after")
    with pytest.raises(RuntimeError, match="injected cut-after"):
        faulty.put(2)
    faulty.arm("put", "pause", seconds=0.2)
    started = time.monotonic()
    assert faulty.put(3) == 3
    assert time.monotonic() - started >= 0.2
    assert faulty.put(4) == 4  # disarmed
    assert box.calls == [2, 3, 4]
    assert faulty.fired == 3


def test_call_faults_hit_only_calls_matching_when() -> None:
    faulty = CallFaults(Box(), error=RuntimeError)
    faulty.arm("put", "cut-before", when=lambda value: value > 10)
    assert faulty.put(1) == 1
    with pytest.raises(RuntimeError):
        faulty.put(11)


def test_call_faults_refuse_unknown_kinds_and_methods() -> None:
    faulty = CallFaults(Box(), error=RuntimeError)
    with pytest.raises(ValueError, match="fault kind 'crash'"):
        faulty.arm("put", "crash")
    with pytest.raises(ValueError, match="no method 'take'"):
        faulty.arm("take", "cut-before")


def test_cases_cover_every_combination() -> None:
    assert len(list(cases(["a", "b"], ["x", "y", "z"], FAULTS))) == 18
