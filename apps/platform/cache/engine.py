"""The two-level cache engine: L1 (in-process LRU) in front of L2 (Redis via django-redis).

One `TwoLevelCache` per cache alias per process (see `apps.platform.cache.api.get_cache`). It uses
django-redis for key naming and (de)serialisation and its raw redis-py connection for the rest:
pipelines, tag sets, SCAN, PUBLISH, sorted sets for access counts.

Coherence: every write or invalidation deletes in L2 and PUBLISHes a JSON message on
`AGENCY_CACHE_INVALIDATE_CHANNEL`; a daemon thread per process subscribes and drops the matching
L1 entries. L1 is only served while that subscription is confirmed alive: after a disconnect the
L1 is cleared and bypassed until the subscriber is back, so a lost message cannot leave a process
serving stale data.

Redis down: every Redis call is guarded; a connection error opens a short circuit
(`AGENCY_CACHE_RETRY_INTERVAL`) during which reads go straight to the loader, errors are logged at
most once per `AGENCY_CACHE_ERROR_LOG_INTERVAL`, and invalidations that could not be delivered are
replayed when Redis answers again.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import redis
from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.base import default_key_func
from django_redis.compressors.identity import IdentityCompressor

from apps.common.errors import PayloadTooLarge, ValidationFailed
from apps.platform.cache.coherence import CoherenceMixin, register_instance
from apps.platform.cache.guards import ACCESS_KEY, REDIS_ERRORS, STATS_KEY, ThrottledLog, process_id
from apps.platform.cache.local import MISSING, LocalCache

# SET with its tags (a tag set's TTL only ever grows, so it outlives its longest member) and the
# invalidation message, in one round trip. With a lease token (single-flight fill), the write only
# happens if the fill lock still holds that token: an invalidation deletes the lock, so a loader
# that read the database before a concurrent write cannot put its stale value into L2 afterwards.
_SET_LUA = """
if ARGV[1] ~= '' and redis.call('get', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('set', KEYS[1], ARGV[2], 'PX', ARGV[3])
for i = 3, #KEYS do
  redis.call('sadd', KEYS[i], ARGV[4])
  local left = redis.call('pttl', KEYS[i])
  if left == -1 or (left >= 0 and left < tonumber(ARGV[5])) then redis.call('pexpire', KEYS[i], ARGV[5]) end
end
if ARGV[6] ~= '' then redis.call('publish', ARGV[6], ARGV[7]) end
return 1
"""

# Invalidation of plain keys (the row cache's every write) in one command instead of a pipeline:
# KEYS = the value keys, then as many fill-lock keys; ARGV = channel, message. Returns how many
# value keys existed.
_INVALIDATE_LUA = """
local n = #KEYS / 2
local deleted = 0
for i = 1, n, 1000 do deleted = deleted + redis.call('unlink', unpack(KEYS, i, math.min(i + 999, n))) end
for i = n + 1, #KEYS, 1000 do redis.call('unlink', unpack(KEYS, i, math.min(i + 999, #KEYS))) end
redis.call('publish', ARGV[1], ARGV[2])
return deleted
"""

# Values kept as objects in L1 (immutable, so a caller cannot mutate the cached copy).
_IMMUTABLE = (str, bytes, int, float, bool, type(None))


class TwoLevelCache(CoherenceMixin):
    """L1 + L2 for one Django cache alias in this process; see the module docstring."""

    def __init__(self, alias: str = "default") -> None:
        self.alias = alias
        self.backend = caches[alias]
        self.client = self.backend.client  # django-redis DefaultClient
        self.location = self.client._server[0]
        self.channel = settings.AGENCY_CACHE_INVALIDATE_CHANNEL
        self.default_ttl = self.backend.default_timeout or 300
        self.local = LocalCache(max_entries=settings.AGENCY_CACHE_L1_MAX_ENTRIES, max_ttl=settings.AGENCY_CACHE_L1_TTL)
        self.errors = ThrottledLog(settings.AGENCY_CACHE_ERROR_LOG_INTERVAL)
        self.retry_interval = settings.AGENCY_CACHE_RETRY_INTERVAL
        self.access_max_keys = settings.AGENCY_CACHE_ACCESS_MAX_KEYS
        # A str of at most this many characters is within the byte limit whatever its UTF-8 width.
        self.short_key_chars = settings.AGENCY_CACHE_MAX_KEY_BYTES // 4
        self._down_until = 0.0
        self._client_cache: redis.Redis | None = None
        self._set_script = None
        self._invalidate_script = None
        self.l2_hits = self.l2_misses = self.loads = self.l2_errors = 0
        self._stats_flushed: dict[str, int] = {}
        self._access: dict[str, int] = {}
        self._access_lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._last_flush = time.monotonic()
        self._pending: list[dict[str, Any]] = []  # invalidations Redis did not receive
        self._pending_lock = threading.Lock()
        self._fill_locks = [threading.Lock() for _ in range(64)]
        self._sub_pid: int | None = None
        self._sub_fork = -1
        self._sub_thread: threading.Thread | None = None
        self._sub_stop = threading.Event()
        self._sub_healthy = threading.Event()
        self._healthy = False  # mirrors _sub_healthy, read on every L1 access
        self.deliveries = 0
        self.replayed = 0
        self.origin = process_id()
        # Fast paths equivalent to django-redis's own, used when the configuration is the default one.
        self._prefix = (f"{self.backend.key_prefix}:{self.backend.version}:"
                        if self.backend.key_func is default_key_func else None)
        self._loads = (self.client._serializer.loads
                       if isinstance(self.client._compressor, IdentityCompressor) else None)
        register_instance(self)

    # ---- Redis access -----------------------------------------------------------------------
    @property
    def redis(self) -> redis.Redis:
        return self.client.get_client(write=True)

    def _raw_client(self) -> redis.Redis:
        found = self._client_cache
        if found is None:
            found = self._client_cache = self.client.get_client(write=True)
        return found

    def make_key(self, key: str) -> str:
        if self._prefix is not None:
            return self._prefix + key
        return str(self.client.make_key(key))

    def available(self) -> bool:
        return time.monotonic() >= self._down_until

    def _failed(self, what: str, exc: BaseException) -> None:
        self.l2_errors += 1
        self._down_until = time.monotonic() + self.retry_interval
        self.errors.report(what, exc)

    def call(self, what: str, fn: Callable[[redis.Redis], Any], default: Any = None) -> Any:
        """Run `fn(redis)`; on a connection error log (throttled), open the circuit, return default."""
        if not self.available():
            return default
        if self._pending and what != "invalidate":
            # Redis is back but missed invalidations: apply them before serving anything from it.
            try:
                self._replay_pending()
            except REDIS_ERRORS as exc:
                self._failed("replay invalidations", exc)
                return default
        try:
            return fn(self.redis)
        except REDIS_ERRORS as exc:
            self._failed(what, exc)
            return default

    # ---- encoding -----------------------------------------------------------------------------
    def encode(self, key: str, value: Any) -> bytes | int:
        try:
            payload = self.client.encode(value)
        except Exception as exc:  # noqa: BLE001 - pickle raises many types
            raise ValidationFailed(f"value for cache key {key!r} is not serialisable: {type(exc).__name__}: {exc}",
                                   code="not_serialisable") from exc
        limit = settings.AGENCY_CACHE_MAX_VALUE_BYTES
        if isinstance(payload, bytes) and len(payload) > limit:
            raise PayloadTooLarge(f"value for cache key {key!r} is {len(payload)} bytes encoded, over {limit}",
                                  details={"key": key, "limit": limit})
        return payload

    def _l1_form(self, value: Any, payload: Any) -> Any:
        return value if isinstance(value, _IMMUTABLE) else _Encoded(payload)

    def decode(self, raw: Any) -> Any:
        if self._loads is not None and type(raw) is bytes and not raw.lstrip(b"-").isdigit():
            return self._loads(raw)
        return self.client.decode(raw)

    # ---- reads --------------------------------------------------------------------------------
    def get(self, key: str, default: Any = None) -> Any:
        value = self._get(key)
        return default if value is MISSING else value

    def _get(self, key: str) -> Any:
        # Hot path, inlined: L1 is usable while subscribed (see l1_usable) in this very process.
        use_l1 = self._healthy or self.l1_usable()  # _healthy is reset in a forked child
        if use_l1:
            stored = self.local.get(key)
            if stored is not MISSING:
                if type(stored) is _Encoded:
                    payload = stored.payload
                    return self._loads(payload) if self._loads is not None else self.client.decode(payload)
                return stored
        generation = self.local.generation
        raw = None
        if self._down_until and not self.available():
            pass  # circuit open: straight to the loader/default
        elif self._pending:
            raw = self.call("get", lambda r: r.get(self.make_key(key)))
        else:
            try:  # the hot path, without the generic wrapper
                raw = self._raw_client().get(self.make_key(key))
            except REDIS_ERRORS as exc:
                self._failed("get", exc)
        if raw is None:
            self.l2_misses += 1
            return MISSING
        self.l2_hits += 1
        value = self.decode(raw)
        if use_l1:
            self.local.set(key, self._l1_form(value, raw), ttl=None, generation=generation)
        return value

    def get_or_set(self, key: str, loader: Callable[[], Any], ttl: float | None, tags: Iterable[str] = (),
                   store_if: Callable[[Any], bool] | None = None) -> Any:
        """The cached value, or `loader()` stored (unless `store_if(value)` says it must not be cached)."""
        value = self._get(key)
        if value is not MISSING:
            return value
        # Single flight: one thread per process (striped lock), one process per key (Redis lock).
        with self._fill_locks[hash(key) % len(self._fill_locks)]:
            value = self._get(key)
            if value is not MISSING:
                return value
            lock = None
            if self.available():
                lock = self.redis.lock(self.make_key(f"fill:{key}"), timeout=settings.AGENCY_CACHE_FILL_LOCK_TIMEOUT,
                                       blocking_timeout=settings.AGENCY_CACHE_FILL_WAIT)
                try:
                    if not lock.acquire():
                        lock = None  # waited long enough: load anyway rather than fail the read
                except REDIS_ERRORS as exc:
                    self._failed("fill lock", exc)
                    lock = None
            try:
                if lock is not None:
                    value = self._get(key)
                    if value is not MISSING:
                        return value
                generation = self.local.generation
                value = loader()
                self.loads += 1
                if store_if is not None and not store_if(value):
                    return value
                if lock is not None:
                    self.set(key, value, ttl=ttl, tags=tags, publish=False, generation=generation,
                             lease=lock.local.token)
                else:
                    self.encode(key, value)  # same contract: a value that cannot be cached is an error
                return value
            finally:
                if lock is not None:
                    with contextlib.suppress(Exception):
                        lock.release()

    # ---- writes -------------------------------------------------------------------------------
    def set(self, key: str, value: Any, *, ttl: float | None, tags: Iterable[str] = (), publish: bool = True,
            generation: int | None = None, lease: bytes | None = None) -> bool:
        """Write L2 (+ tag sets) and L1; other processes drop their L1 copy (publish=True).

        With `lease` (the fill lock's token) the L2 write is skipped if an invalidation came first.
        """
        tags = list(tags)
        payload = self.encode(key, value)
        life = ttl if ttl is not None else self.default_ttl
        full = self.make_key(key)
        life_ms = max(1, int(life * 1000))

        def write(r: redis.Redis) -> bool:
            if self._set_script is None:
                self._set_script = r.register_script(_SET_LUA)
            keys = [full, self.make_key(f"fill:{key}") if lease else full, *(self.make_key(f"tag:{t}") for t in tags)]
            args = [lease or "", payload, life_ms, key, life_ms + 60_000,
                    self.channel if publish else "", self._message(keys=[key]) if publish else ""]
            return bool(self._set_script(keys=keys, args=args, client=r))

        if publish:
            self.local.delete_many([key])
        ok = self.call("set", write, False)
        if ok and self.l1_usable():
            self.local.set(key, self._l1_form(value, payload), ttl=life, tags=tags, generation=generation)
        return bool(ok)

    def _message(self, **fields: Any) -> str:
        return json.dumps({"origin": self.origin, "at": time.time(), **fields})

    def invalidate(self, *, keys: Iterable[str] = (), tags: Iterable[str] = (), pattern: str | None = None,
                   everything: bool = False) -> int:
        """Delete in L2, drop in the local L1, publish so other processes drop theirs. Returns L2 deletions."""
        keys, tags = list(keys), list(tags)
        message = {"keys": keys, "tags": tags, "pattern": pattern, "all": everything}
        self._drop_local(message)
        deleted = self._invalidate_l2(message)
        if deleted is None:
            with self._pending_lock:
                if len(self._pending) < 10_000:
                    self._pending.append(message)
                else:
                    self._pending = [{"keys": [], "tags": [], "pattern": None, "all": True}]
            return 0
        return deleted

    def _invalidate_l2(self, message: dict[str, Any]) -> int | None:
        def run(r: redis.Redis) -> int:
            keys = list(message["keys"])
            if not message["tags"] and not message["pattern"] and not message["all"]:
                if self._invalidate_script is None:
                    self._invalidate_script = r.register_script(_INVALIDATE_LUA)
                full = [self.make_key(k) for k in keys] + [self.make_key(f"fill:{k}") for k in keys]
                args = [self.channel, self._message(**message)]
                return int(self._invalidate_script(keys=full, args=args, client=r))
            for tag in message["tags"]:
                keys += [m.decode() for m in r.smembers(self.make_key(f"tag:{tag}"))]
            full = ([self.make_key(k) for k in keys] + [self.make_key(f"fill:{k}") for k in keys]
                    + [self.make_key(f"tag:{t}") for t in message["tags"]])
            deleted = 0
            if message["pattern"] or message["all"]:
                pattern = message["pattern"] or "*"
                for match, counted in ((self.make_key(pattern), True), (self.make_key(f"fill:{pattern}"), False)):
                    batch = []
                    for k in r.scan_iter(match=match, count=1000):
                        batch.append(k)
                        if len(batch) >= 1000:
                            n = r.unlink(*batch)
                            deleted += n if counted else 0
                            batch = []
                    if batch:
                        n = r.unlink(*batch)
                        deleted += n if counted else 0
            pipe = r.pipeline(transaction=False)
            value_keys, other_keys = full[:len(keys)], full[len(keys):]
            for i in range(0, len(value_keys), 1000):
                pipe.unlink(*value_keys[i:i + 1000])
            if other_keys:
                pipe.unlink(*other_keys)
            pipe.publish(self.channel, self._message(**{**message, "keys": keys}))
            results = pipe.execute()
            results = results[:-2] + [0, 0] if other_keys else results
            if len(keys) > len(message["keys"]):
                self.local.delete_many(keys)  # L1 copies filled from L2 do not know their tags
            return deleted + sum(results[:-1])

        return self.call("invalidate", run, None)

    def _replay_pending(self) -> None:
        with self._pending_lock:
            pending, self._pending = self._pending, []
        for i, message in enumerate(pending):
            if self._invalidate_l2(message) is not None:
                self.replayed += 1
            else:
                with self._pending_lock:
                    self._pending = pending[i:] + self._pending
                raise redis.exceptions.ConnectionError("replay of pending invalidations failed")

    # ---- access counts and stats ------------------------------------------------------------
    def record_access(self, key: str) -> None:
        """Count a read (buffered in-process, flushed to a Redis sorted set about once a second)."""
        with self._access_lock:
            self._access[key] = self._access.get(key, 0) + 1
            due = time.monotonic() - self._last_flush >= 1.0 or len(self._access) >= 1000
        if due:
            self.flush_counters()

    def flush_counters(self) -> None:
        if not self._flush_lock.acquire(blocking=False):
            return  # another thread is flushing right now
        try:
            self._flush_counters()
        finally:
            self._flush_lock.release()

    def _flush_counters(self) -> None:
        with self._access_lock:
            access, self._access = self._access, {}
            self._last_flush = time.monotonic()
        current = self.counters()
        deltas = {k: v - self._stats_flushed.get(k, 0) for k, v in current.items()}

        def run(r: redis.Redis) -> bool:
            pipe = r.pipeline(transaction=False)
            zkey = self.make_key(ACCESS_KEY)
            for key, n in access.items():
                pipe.zincrby(zkey, n, key)
            if access:
                pipe.zremrangebyrank(zkey, 0, -self.access_max_keys - 1)  # keep only the most-read keys
            for name, n in deltas.items():
                if n:
                    pipe.hincrby(self.make_key(STATS_KEY), name, n)
            pipe.execute()
            return True

        if (access or any(deltas.values())) and self.call("flush counters", run, False):
            self._stats_flushed = current

    def counters(self) -> dict[str, int]:
        return {
            "l1_hits": self.local.hits, "l1_misses": self.local.misses, "l1_evictions": self.local.evictions,
            "l2_hits": self.l2_hits, "l2_misses": self.l2_misses, "loads": self.loads, "errors": self.l2_errors,
        }


class _Encoded:
    __slots__ = ("payload",)

    def __init__(self, payload: Any) -> None:
        self.payload = payload
