"""How RingCache stores values: serializers, compressors, and reading across settings."""

from __future__ import annotations

import pickle

import pytest

from accord.contrib.django.cache.codec import Codec

BIG = {"text": "x" * 5000, "n": [1, 2, 3]}
SETTINGS = [
    (serializer, compressor)
    for serializer in (None, "json", "msgpack")
    for compressor in (None, "zlib", "lz4", "zstd")
]


@pytest.mark.parametrize(("serializer", "compressor"), SETTINGS)
def test_each_setting_reads_back_what_it_wrote(
    serializer: str | None, compressor: str | None
) -> None:
    codec = Codec(serializer, compressor, min_length=100)
    for value in (BIG, "short", [1, "a"], 42, -7):
        assert codec.loads(_bytes(codec.dumps(value))) == value


@pytest.mark.parametrize(("serializer", "compressor"), SETTINGS)
def test_values_written_under_any_setting_are_read_under_any_other(
    serializer: str | None, compressor: str | None
) -> None:
    writer = Codec(serializer, compressor, min_length=100)
    for other_serializer, other_compressor in SETTINGS:
        reader = Codec(other_serializer, other_compressor)
        assert reader.loads(_bytes(writer.dumps(BIG))) == BIG


def test_the_default_format_is_djangos_pickle_byte_for_byte() -> None:
    from django.core.cache.backends.redis import RedisSerializer

    value = {"a": 1}
    assert Codec().dumps(value) == RedisSerializer().dumps(value)
    assert Codec().loads(RedisSerializer().dumps(value)) == value
    assert Codec().dumps(5) == 5  # stored as digits, so INCR works


def test_compression_starts_at_the_minimum_length_and_shrinks_big_values() -> None:
    codec = Codec(compressor="zlib", min_length=100)
    small = codec.dumps("tiny")
    assert small == pickle.dumps("tiny", pickle.HIGHEST_PROTOCOL)
    big = _bytes(codec.dumps(BIG))
    assert big[:1] == b"\x00"
    assert len(big) < len(pickle.dumps(BIG)) / 5


def test_a_custom_serializer_class_is_used_as_given() -> None:
    class Upper:
        def dumps(self, value: str) -> bytes:
            return value.upper().encode()

        def loads(self, data: bytes) -> str:
            return data.decode().lower()

    codec = Codec(Upper)
    assert codec.dumps("abc") == b"ABC"
    assert codec.loads(b"ABC") == "abc"


def _bytes(value: bytes | int) -> bytes:
    return str(value).encode() if isinstance(value, int) else value
