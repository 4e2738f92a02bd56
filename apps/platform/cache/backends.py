"""`TwoLevelCache`: the two-level cache as a Django cache backend (``CACHES["default"]``).

    CACHES = {"default": {
        "BACKEND": "apps.platform.cache.backends.TwoLevelCache",
        "LOCATION": "redis://127.0.0.1:6379/0",
        "KEY_PREFIX": "agency", "TIMEOUT": 300,
        "OPTIONS": {
            # the engine's (defaults in engine.ENGINE_OPTIONS):
            "L1_MAX_ENTRIES": 10000, "L1_TTL": 30, "INVALIDATION_CHANNEL": "agency:cache:invalidate",
            "MAX_KEY_BYTES": 1024, "MAX_VALUE_BYTES": 1048576, "IGNORE_EXCEPTIONS": True, ...
            # anything else is django-redis's: "SOCKET_TIMEOUT": 1, "SERIALIZER": ..., ...
        },
    }}

Sessions (``cached_db``), DRF throttles, Celery's cache backend, template fragments and any
third-party app then get L1 speed and cross-process coherence, through the same engine as the
project's own calls (`apps.platform.cache.api`).

Django's contract, as its own ``RedisCache`` keeps it (Django's ``BaseCacheTests`` run against this
class: ``apps/platform/tests/test_cache_django_suite.py``):

* timeouts: ``None`` = no expiry, ``0`` or negative = expire at once (the key is deleted),
  fractions are kept to the millisecond; ``version=``, ``incr_version``/``decr_version`` (a
  ``RENAME``: the TTL is kept); ``None`` is a value like any other;
* ``incr``/``decr`` are one atomic ``INCRBY`` of the stored integer, keeping its TTL: ``ValueError``
  for a missing key, ``TypeError`` for a value that is not an integer;
* ``get_many`` is one ``MGET`` (after L1), ``set_many`` and ``delete_many`` one round trip each;
* ``clear`` deletes this cache's keys only (``SCAN`` of its prefix, never ``FLUSHDB``);
* keys: Django's ``CacheKeyWarning`` for keys memcached would refuse, and ``InvalidCacheKey`` over
  ``MAX_KEY_BYTES``. A value over ``MAX_VALUE_BYTES`` is not stored (memcached's rule: the old value
  is deleted, ``add`` answers False, ``set_many`` lists the key; logged); pickling errors propagate;
* Redis errors raise, unless ``IGNORE_EXCEPTIONS`` (the project's setting): then a read is a miss
  and a write does nothing, logged at most once per ``ERROR_LOG_INTERVAL``;
* the async variants are BaseCache's (``sync_to_async`` of these).

When things happen (one rule for the whole cache, also in the README): a write through Django's
API acts at once, in Redis and in every process's L1, inside ``atomic`` blocks and ``TestCase``
too, as Django's own backends do. The project's row cache and ``cache_delete``/tag/pattern calls
invalidate when the surrounding transaction commits (`transactions`), because they follow
database writes that could still roll back.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT, BaseCache, InvalidCacheKey, default_key_func
from django.core.exceptions import ImproperlyConfigured

from apps.platform.cache.engine import REDIS_ERRORS, CacheEngine, ValueTooLarge, engine_for, glob_escape
from apps.platform.cache.local import MISSING

# Characters for which Django's validate_key warns (memcached refuses them), to skip its per-char loop.
_WARN_CHARS = re.compile(r"[\x00-\x20\x7f]")
_MEMCACHE_MAX_KEY_LENGTH = 250


class TwoLevelCache(BaseCache):
    """Django cache backend over the process's shared `CacheEngine` for this configuration."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(params)
        self._server = server
        self._params = params
        self._engine = engine_for(server, params)
        self.ignore_exceptions = bool(self._engine.options["IGNORE_EXCEPTIONS"])
        self._prefix = f"{self.key_prefix}:{self.version}:"
        # Keys this short (in characters) cannot be over the byte limit nor long enough to warn.
        self._short = min(_MEMCACHE_MAX_KEY_LENGTH, self._engine.max_key_bytes // 4)

    # ---- plumbing ---------------------------------------------------------------------------
    @property
    def engine(self) -> CacheEngine:
        """The shared engine (replaced if `reset_caches` stopped it)."""
        engine = self._engine
        if engine.stopped:
            engine = self._engine = engine_for(self._server, self._params)
        return engine

    @property
    def client(self) -> Any:
        """django-redis's client, for ``django_redis.get_redis_connection()`` users (locks, health…)."""
        return self.engine.client

    def get_backend_timeout(self, timeout: Any = DEFAULT_TIMEOUT) -> int | None:
        """Milliseconds of life: None = no expiry, <= 0 = expire at once (Redis's rule, in ms)."""
        if timeout is DEFAULT_TIMEOUT:
            timeout = self.default_timeout
        if timeout is None:
            return None
        return int(timeout * 1000)

    def _full(self, key: Any, version: int | None = None) -> str:
        if version is None and type(key) is str and self.key_func is default_key_func:
            full = self._prefix + key
        else:
            full = self.make_key(key, version=version)
        if len(full) > self._short or _WARN_CHARS.search(full):
            self._validate(full)
        return full

    def _validate(self, full: str) -> None:
        self.validate_key(full)  # Django's CacheKeyWarning
        if len(full.encode()) > self._engine.max_key_bytes:
            raise InvalidCacheKey(f"Cache key is {len(full.encode())} bytes, over the limit of "
                                  f"{self._engine.max_key_bytes} (MAX_KEY_BYTES): {full[:80]!r}…")

    # ---- reads ------------------------------------------------------------------------------
    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        if version is None and type(key) is str and self.key_func is default_key_func:
            full = self._prefix + key  # the hot path, inlined
            if len(full) > self._short or _WARN_CHARS.search(full):
                self._validate(full)
        else:
            full = self._full(key, version)
        engine = self._engine
        if engine.stopped:
            engine = self.engine
        try:
            value = engine.lookup(full)
        except REDIS_ERRORS:
            if self.ignore_exceptions:
                return default
            raise
        return default if value is MISSING else value

    def get_many(self, keys: Iterable[Any], version: int | None = None) -> dict[Any, Any]:
        key_map = {self._full(key, version): key for key in keys}
        if not key_map:
            return {}
        try:
            found = self.engine.lookup_many(list(key_map))
        except REDIS_ERRORS:
            if self.ignore_exceptions:
                return {}
            raise
        return {key_map[full]: value for full, value in found.items()}

    def has_key(self, key: Any, version: int | None = None) -> bool:
        full = self._full(key, version)
        try:
            return self.engine.exists(full)
        except REDIS_ERRORS:
            if self.ignore_exceptions:
                return False
            raise

    # ---- writes -----------------------------------------------------------------------------
    def _too_large(self, full: str, exc: ValueTooLarge) -> None:
        """memcached's rule for a value the cache will not hold: the old one must not stay either."""
        engine = self.engine
        engine.errors.report(f"set {full!r}", exc)
        try:
            engine.remove_many([full])
        except REDIS_ERRORS:
            if not self.ignore_exceptions:
                raise

    def add(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        full = self._full(key, version)
        try:
            return self.engine.store(full, value, self.get_backend_timeout(timeout), nx=True)
        except ValueTooLarge as exc:
            self._too_large(full, exc)
            return False
        except REDIS_ERRORS:
            if self.ignore_exceptions:
                return False
            raise

    def set(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> None:
        full = self._full(key, version)
        try:
            self.engine.store(full, value, self.get_backend_timeout(timeout))
        except ValueTooLarge as exc:
            self._too_large(full, exc)
        except REDIS_ERRORS:
            if not self.ignore_exceptions:
                raise

    def set_many(self, data: dict[Any, Any], timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> list[Any]:
        if not data:
            return []
        items: dict[str, Any] = {}
        engine = self.engine
        failed = []
        for key, value in data.items():
            full = self._full(key, version)
            try:
                engine.encode_strict(value)
            except ValueTooLarge as exc:
                self._too_large(full, exc)
                failed.append(key)
                continue
            items[full] = value
        if items:
            try:
                engine.store_many(items, self.get_backend_timeout(timeout))
            except REDIS_ERRORS:
                if not self.ignore_exceptions:
                    raise
                return list(data)
        return failed

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        full = self._full(key, version)
        try:
            return self.engine.expire(full, self.get_backend_timeout(timeout))
        except REDIS_ERRORS:
            if self.ignore_exceptions:
                return False
            raise

    def delete(self, key: Any, version: int | None = None) -> bool:
        full = self._full(key, version)
        try:
            return self.engine.remove_many([full]) > 0
        except REDIS_ERRORS:
            if self.ignore_exceptions:
                return False
            raise

    def delete_many(self, keys: Iterable[Any], version: int | None = None) -> None:
        fulls = [self._full(key, version) for key in keys]
        if not fulls:
            return
        try:
            self.engine.remove_many(fulls)
        except REDIS_ERRORS:
            if not self.ignore_exceptions:
                raise

    def incr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        full = self._full(key, version)
        try:
            return self.engine.increment(full, delta)
        except REDIS_ERRORS:
            if self.ignore_exceptions:
                raise ValueError(f"Key {key!r} not found (Redis is unavailable).") from None
            raise

    def incr_version(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        if version is None:
            version = self.version
        old, new = self._full(key, version), self._full(key, version + delta)
        try:
            moved = self.engine.rename(old, new)
        except REDIS_ERRORS:
            if not self.ignore_exceptions:
                raise
            moved = False
        if not moved:
            raise ValueError(f"Key '{key}' not found")
        return version + delta

    def clear(self) -> bool:
        """Delete this cache's keys (all versions): a SCAN of its namespace, never FLUSHDB."""
        glob = str(self.key_func("*", glob_escape(self.key_prefix), "*"))
        if not glob.strip("*"):
            raise ImproperlyConfigured("clear() needs keys that carry the cache's prefix: this KEY_FUNCTION "
                                       "makes every key in the database match, and clear() never empties it")
        try:
            self.engine.clear(glob)
        except REDIS_ERRORS:
            if not self.ignore_exceptions:
                raise
            return False
        return True

    def close(self, **kwargs: Any) -> None:
        """End of a request: L1 and the subscriber stay; django-redis closes connections if CLOSE_CONNECTION."""
        self.engine.client.close()
