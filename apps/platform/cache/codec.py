"""How values are written to Redis and kept in L1, the same way in every process.

The wire format is django-redis's, so a key written through `get_redis_connection()` users or
django-redis tools reads back the same: a plain ``int`` is stored as its decimal digits (so that
``INCRBY`` can work on it atomically), anything else is serialised (``SERIALIZER``, pickle by
default) and compressed (``COMPRESSOR``, none by default). Two differences from django-redis, both
about round-tripping:

* only an exact ``int`` within Redis's 64-bit range is stored raw. django-redis stores any ``int``
  instance raw, so an ``IntEnum`` member went out as its ``repr`` (``<Color.RED: 1>``), which no
  process could read back (``UnpicklingError``), while the writer's L1 kept serving the object;
* L1 keeps what L2 would give back: exact immutable built-ins (str, bytes, int, float, bool, None)
  as the object itself, everything else as the encoded bytes, decoded on every L1 hit. So a value
  reads back equal from any process and from either level, and a caller who mutates what it got
  cannot change the cached copy.
"""

from __future__ import annotations

import contextlib
import pickle
from collections.abc import Callable
from typing import Any

from django.utils.module_loading import import_string
from django_redis.compressors.identity import IdentityCompressor
from django_redis.exceptions import CompressorError
from django_redis.serializers.pickle import PickleSerializer

_IMMUTABLE = frozenset({str, bytes, int, float, bool, type(None)})
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1


class Encoded:
    """An L1 entry held as the bytes Redis holds (decoded on each hit)."""

    __slots__ = ("payload",)

    def __init__(self, payload: bytes) -> None:
        self.payload = payload


class Codec:
    """Encode for Redis, decode from Redis, and choose the L1 form of a value."""

    def __init__(self, options: dict[str, Any]) -> None:
        serializer = import_string(options.get("SERIALIZER", "django_redis.serializers.pickle.PickleSerializer"))
        compressor = import_string(options.get("COMPRESSOR", "django_redis.compressors.identity.IdentityCompressor"))
        self._serializer = serializer(options=options)
        self._compressor = compressor(options=options)
        self._dumps = self._serializer.dumps
        self._loads = self._serializer.loads
        self._plain = isinstance(self._compressor, IdentityCompressor)
        # What an L1 hit of an `Encoded` entry calls (never a raw int): with the default pickle
        # serializer and no compression that is pickle.loads itself, what PickleSerializer.loads calls.
        if self._plain and type(self._serializer) is PickleSerializer:
            self.loads_payload: Callable[[bytes], Any] = pickle.loads
        elif self._plain:
            self.loads_payload = self._loads
        else:
            self.loads_payload = self._decompress_loads

    def _decompress_loads(self, raw: bytes) -> Any:
        with contextlib.suppress(CompressorError):
            raw = self._compressor.decompress(raw)
        return self._loads(raw)

    def encode(self, value: Any) -> bytes | int:
        """The Redis form; serialisation errors (e.g. ``pickle.PicklingError``) propagate unchanged."""
        if type(value) is int and _INT_MIN <= value <= _INT_MAX:
            return value
        data = self._dumps(value)
        return data if self._plain else self._compressor.compress(data)

    def decode(self, raw: bytes | int) -> Any:
        if type(raw) is int:
            return raw
        first = raw[0] if raw else 0
        if (first == 45 or 48 <= first <= 57) and raw.lstrip(b"-").isdigit():  # "-" or a digit: an int
            return int(raw)
        if self._plain:
            return self.loads_payload(raw)
        with contextlib.suppress(CompressorError):  # else written before compression was switched on
            raw = self._compressor.decompress(raw)
        return self._loads(raw)

    def l1_form(self, value: Any, payload: bytes | int) -> Any:
        """What L1 keeps for `value` whose Redis form is `payload` (see the module docstring)."""
        if type(value) in _IMMUTABLE:
            return value
        return Encoded(payload if type(payload) is bytes else str(payload).encode())

    def from_l1(self, stored: Any) -> Any:
        return self.loads_payload(stored.payload) if type(stored) is Encoded else stored
