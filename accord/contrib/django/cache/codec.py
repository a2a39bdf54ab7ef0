"""How values become bytes in Redis: serializers (pickle, JSON, msgpack) and compressors.

Formats, chosen so that a value written under one setting is read under any other:

* an ``int`` is stored as its decimal digits (``INCR`` works on it), as Django does;
* with the default serializer and no compression, other values are Django's
  pickle, byte for byte (what Django's ``RedisCache`` writes and reads);
* anything else is an *envelope*: ``b"\\x00"``, one flags byte (serializer in
  the high nibble, compressor in the low one), then the payload. Values are
  compressed only from ``compress_min_length`` bytes.

So changing the compressor (or turning it off) still reads old values, and so
does changing between pickle, JSON and msgpack. A custom serializer class
(``dumps``/``loads``) writes what it returns; with a compressor its large
values get the envelope.

Failure behaviour: a compressor or serializer whose package is missing raises
:class:`~accord.core.errors.MissingDependency` naming the extra
(``accord[lz4]``, ``accord[zstd]``, ``accord[msgpack]``) when the cache is
built; a value the serializer cannot encode raises its own error before
anything is sent.
"""

from __future__ import annotations

import json
import pickle
import zlib
from collections.abc import Callable
from typing import Any

from django.utils.module_loading import import_string

from accord.contrib.django.cache.options import RingOptions
from accord.core.optional import import_optional

__all__ = ["Codec"]

_ENVELOPE = 0
_PICKLE, _JSON, _MSGPACK, _CUSTOM = 0, 1, 2, 3
_SERIALIZERS = {"pickle": _PICKLE, "json": _JSON, "msgpack": _MSGPACK}
_NONE, _ZLIB, _LZ4, _ZSTD = 0, 1, 2, 3
_COMPRESSORS = {"zlib": _ZLIB, "lz4": _LZ4, "zstd": _ZSTD}


def _codecs(
    kind: int, level: int | None
) -> tuple[Callable[[bytes], bytes], Callable[[bytes], bytes]]:
    if kind == _ZLIB:
        return (lambda b: zlib.compress(b, -1 if level is None else level)), zlib.decompress
    if kind == _LZ4:
        lz4 = import_optional("lz4.frame", extra="lz4", purpose="the lz4 cache compressor")
        return (lambda b: lz4.compress(b, compression_level=level or 0)), lz4.decompress
    zstd = import_optional("zstandard", extra="zstd", purpose="the zstd cache compressor")
    compressor = zstd.ZstdCompressor(level=3 if level is None else level)
    decompressor = zstd.ZstdDecompressor()
    return compressor.compress, lambda b: decompressor.decompress(b, max_output_size=1 << 31)


class Codec:
    """Serializer plus optional compressor; see the module docstring for the formats.

    :param serializer: ``None``/``"pickle"``, ``"json"``, ``"msgpack"``, a
        dotted path or a class (or instance) with ``dumps``/``loads``.
    :param compressor: ``None``, ``"zlib"``, ``"lz4"``, ``"zstd"``, or a class
        with ``compress``/``decompress`` (given the low-nibble code 4).
    """

    def __init__(
        self,
        serializer: Any = None,
        compressor: Any = None,
        *,
        min_length: int = RingOptions.compress_min_length,
        level: int | None = None,
    ) -> None:
        self._custom: Any = None
        if serializer is None or serializer in _SERIALIZERS:
            self._kind = _SERIALIZERS.get(serializer or "pickle", _PICKLE)
        else:
            custom = import_string(serializer) if isinstance(serializer, str) else serializer
            self._custom = custom() if isinstance(custom, type) else custom
            self._kind = _CUSTOM
        if self._kind == _MSGPACK:
            self._msgpack = import_optional(
                "msgpack", extra="msgpack", purpose="the msgpack serializer"
            )
        self._compress_kind = _NONE
        self._compress: Callable[[bytes], bytes] | None = None
        self._decompressors: dict[int, Callable[[bytes], bytes]] = {}
        if isinstance(compressor, str) and compressor in _COMPRESSORS:
            self._compress_kind = _COMPRESSORS[compressor]
            self._compress, self._decompressors[self._compress_kind] = _codecs(
                self._compress_kind, level
            )
        elif compressor is not None:
            custom = import_string(compressor) if isinstance(compressor, str) else compressor
            instance = custom() if isinstance(custom, type) else custom
            self._compress_kind = 4
            self._compress = instance.compress
            self._decompressors[4] = instance.decompress
        self._min_length = min_length
        self._level = level
        self._plain = self._kind == _PICKLE and self._compress is None

    # ----------------------------------------------------------------- writing

    def dumps(self, value: Any) -> bytes | int:
        """The bytes (or int) to store for *value*."""
        if type(value) is int:
            return value
        if self._plain:
            return pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
        if self._kind == _CUSTOM:
            payload = self._custom.dumps(value)
            if self._compress is None or not isinstance(payload, bytes):
                return payload  # type: ignore[no-any-return]
        else:
            payload = self._serialize(value)
        if self._compress is not None and len(payload) >= self._min_length:
            flags = self._kind << 4 | self._compress_kind
            return bytes((_ENVELOPE, flags)) + self._compress(payload)
        if self._kind == _PICKLE:
            return payload
        return bytes((_ENVELOPE, self._kind << 4)) + payload

    def _serialize(self, value: Any) -> bytes:
        if self._kind == _PICKLE:
            return pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
        if self._kind == _JSON:
            return json.dumps(value, separators=(",", ":")).encode()
        packed: bytes = self._msgpack.packb(value, use_bin_type=True)
        return packed

    # ----------------------------------------------------------------- reading

    def loads(self, data: bytes) -> Any:
        """The value stored as *data* by any of the formats above."""
        first = data[:1]
        if first == b"\x80":
            return pickle.loads(data)
        if first == b"\x00" and len(data) > 1 and (self._kind != _CUSTOM or self._compress):
            return self._open(data)
        if self._kind == _CUSTOM:
            return self._custom.loads(data)
        try:
            return int(data)
        except ValueError:
            return pickle.loads(data)  # pickles of protocol < 2

    def _open(self, data: bytes) -> Any:
        flags = data[1]
        kind, compressed = flags >> 4, flags & 0x0F
        payload = data[2:]
        if compressed:
            decompress = self._decompressors.get(compressed)
            if decompress is None:
                decompress = self._decompressors[compressed] = _codecs(compressed, None)[1]
            payload = decompress(payload)
        if kind == _PICKLE:
            return pickle.loads(payload)
        if kind == _JSON:
            return json.loads(payload)
        if kind == _MSGPACK:
            msgpack = import_optional("msgpack", extra="msgpack", purpose="a msgpack value")
            return msgpack.unpackb(payload, raw=False)
        return self._custom.loads(payload)
