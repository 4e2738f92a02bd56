"""The two-level cache engine: L1 (in-process LRU) in front of L2 (Redis via django-redis).

One `TwoLevelCache` per cache alias per process (see `apps.cache.services.get_cache`). It uses
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
import logging
import os
import re
import socket
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterable
from typing import Any

import redis
from django.conf import settings
from django.core.cache import caches
from django_redis.exceptions import ConnectionInterrupted

from apps.cache.local import MISSING, LocalCache
from apps.common.errors import PayloadTooLarge, ValidationFailed

logger = logging.getLogger("apps.cache")

REDIS_ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, ConnectionInterrupted, OSError)
# Values kept as objects in L1 (immutable, so a caller cannot mutate the cached copy).
_IMMUTABLE = (str, bytes, int, float, bool, type(None))
_GLOB = re.compile(r"[*?\[\]\\^!-]")
ACCESS_KEY = "cache:access"
STATS_KEY = "cache:stats"


class ThrottledLog:
    """Log a recurring error at most once per interval, with how many were suppressed."""

    def __init__(self, interval: float, log: logging.Logger = logger) -> None:
        self.interval = interval
        self.log = log
        self._last = -1e18
        self.suppressed = 0
        self.total = 0
        self._lock = threading.Lock()

    def should_log(self) -> tuple[bool, int]:
        with self._lock:
            self.total += 1
            now = time.monotonic()
            if now - self._last >= self.interval:
                self._last, n, self.suppressed = now, self.suppressed, 0
                return True, n
            self.suppressed += 1
            return False, 0

    def report(self, what: str, exc: BaseException) -> None:
        emit, suppressed = self.should_log()
        if emit:
            self.log.warning("cache: %s failed: %s: %s (%d similar errors suppressed)",
                             what, type(exc).__name__, exc, suppressed)


class ThrottleFilter(logging.Filter):
    """Attached to django-redis's logger so IGNORE_EXCEPTIONS does not log once per request."""

    def __init__(self, interval: float) -> None:
        super().__init__()
        self.throttle = ThrottledLog(interval)

    def filter(self, record: logging.LogRecord) -> bool:
        return self.throttle.should_log()[0]


def process_id() -> str:
    """Unique per cache instance and process (host:pid:random), so a publisher skips its own messages."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def check_key(key: Any, what: str = "key") -> str:
    if not isinstance(key, str) or not key:
        raise ValidationFailed(f"cache {what} must be a non-empty string, got {key!r}", code="invalid_key")
    limit = settings.AGENCY_CACHE_MAX_KEY_BYTES
    if len(key) * 4 > limit and len(key.encode()) > limit:
        raise ValidationFailed(
            f"cache {what} is {len(key.encode())} bytes, over the limit of {limit} bytes",
            code="key_too_long", details={"key": key[:80] + "…", "limit": limit},
        )
    return key


def check_ttl(ttl: Any) -> float | None:
    if ttl is None:
        return None
    if isinstance(ttl, bool) or not isinstance(ttl, int | float):
        raise ValidationFailed(f"ttl must be a number of seconds, got {ttl!r}", code="invalid_ttl")
    if ttl <= 0:
        raise ValidationFailed(f"ttl must be positive, got {ttl}", code="invalid_ttl")
    return float(ttl)


def check_pattern(pattern: Any, *, allow_all: bool) -> str:
    if not isinstance(pattern, str):
        raise ValidationFailed(f"pattern must be a string, got {pattern!r}", code="invalid_pattern")
    if not _GLOB.sub("", pattern).strip() and not allow_all:
        raise ValidationFailed(
            f"pattern {pattern!r} is empty or wildcard-only and would delete every key; "
            "pass allow_all=True to really do that", code="pattern_too_broad",
        )
    return pattern or "*"


class TwoLevelCache:
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
        # A str of at most this many characters is within the byte limit whatever its UTF-8 width.
        self.short_key_chars = settings.AGENCY_CACHE_MAX_KEY_BYTES // 4
        self._down_until = 0.0
        self._client_cache: redis.Redis | None = None
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
        from django.core.cache.backends.base import default_key_func
        from django_redis.compressors.identity import IdentityCompressor

        self._prefix = (f"{self.backend.key_prefix}:{self.backend.version}:"
                        if self.backend.key_func is default_key_func else None)
        self._loads = (self.client._serializer.loads
                       if isinstance(self.client._compressor, IdentityCompressor) else None)
        _instances.add(self)

    def _reinit_after_fork(self) -> None:
        self.local._lock = threading.Lock()
        self.local._data.clear()
        self._access_lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._pending_lock = threading.Lock()
        self._fill_locks = [threading.Lock() for _ in range(len(self._fill_locks))]
        self._access = {}
        self._healthy = False
        self._client_cache = None

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

    # ---- L1 usability (coherence) -------------------------------------------------------------
    def l1_usable(self) -> bool:
        """L1 may serve only while this process is subscribed to invalidations (started lazily)."""
        if self._sub_fork != _fork_count:
            self._start_subscriber()
        return self._healthy

    def _start_subscriber(self) -> None:
        with self._pending_lock:
            if self._sub_fork == _fork_count and self._sub_pid == os.getpid():
                return
            # A forked child (Celery prefork) inherits neither the thread nor a valid L1.
            self.local.clear()
            self.origin = process_id()
            self._sub_stop = threading.Event()
            self._sub_healthy = threading.Event()
            self._sub_pid = os.getpid()
            self._sub_fork = _fork_count
            self._healthy = False
            self._sub_thread = threading.Thread(target=self._subscribe_loop, name=f"cache-invalidation-{self.alias}",
                                                daemon=True)
            self._sub_thread.start()

    def stop(self) -> None:
        self._sub_stop.set()
        self._sub_healthy.clear()
        self._healthy = False
        self._sub_pid = None
        self._sub_fork = -1

    def _subscribe_loop(self) -> None:
        stop, healthy = self._sub_stop, self._sub_healthy
        backoff = 0.05
        while not stop.is_set():
            client = pubsub = None
            try:
                client = redis.Redis.from_url(self.location, socket_connect_timeout=1, socket_timeout=5,
                                              health_check_interval=2)
                pubsub = client.pubsub()
                pubsub.subscribe(self.channel)
                msg = pubsub.get_message(timeout=2)
                if not msg or msg.get("type") != "subscribe":
                    raise redis.exceptions.ConnectionError("no subscribe confirmation")
                self.local.clear()  # anything may have changed while we were not listening
                self._replay_pending()
                healthy.set()
                self._healthy = True
                backoff = 0.05
                while not stop.is_set():
                    msg = pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if msg and msg.get("type") == "message":
                        self._apply_remote(msg["data"])
                    if time.monotonic() - self._last_flush >= 1.0:
                        self.flush_counters()  # cluster-wide stats and access counts, about once a second
            except Exception as exc:  # noqa: BLE001 - the thread must survive anything
                healthy.clear()
                self._healthy = False
                self.local.clear()
                if stop.is_set():
                    break
                self.errors.report("invalidation subscriber", exc)
                stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                if stop.is_set():
                    healthy.clear()
                    self._healthy = False
                for closeable in (pubsub, client):
                    with contextlib.suppress(Exception):
                        closeable and closeable.close()

    def _apply_remote(self, data: bytes | str) -> None:
        try:
            message = json.loads(data)
        except ValueError:
            return
        if message.get("origin") == self.origin:
            return
        self.deliveries += 1
        self._drop_local(message)

    def _drop_local(self, message: dict[str, Any]) -> None:
        if message.get("all"):
            self.local.clear()
            return
        if message.get("keys"):
            self.local.delete_many(message["keys"])
        if message.get("tags"):
            self.local.drop_tags(message["tags"])
        if message.get("pattern"):
            self.local.drop_pattern(message["pattern"])

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

    def _from_l1(self, stored: Any) -> Any:
        if type(stored) is not _Encoded:
            return stored
        payload = stored.payload
        # django-redis stores ints as ints and everything else serialised: same rule, no exception.
        if self._loads is not None and type(payload) is bytes:
            return self._loads(payload)
        return self.client.decode(payload)

    def decode(self, raw: Any) -> Any:
        if self._loads is not None and type(raw) is bytes and not raw.lstrip(b"-").isdigit():
            return self._loads(raw)
        return self.client.decode(raw)

    # ---- reads --------------------------------------------------------------------------------
    def get(self, key: str, default: Any = None) -> Any:
        value = self._get(key)
        return default if value is MISSING else value

    def _get(self, key: str, *, fill_l1: bool = True) -> Any:
        # Hot path, inlined: L1 is usable while subscribed (see l1_usable) in this very process.
        use_l1 = self._healthy if self._sub_fork == _fork_count else self.l1_usable()
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
        if use_l1 and fill_l1:
            self.local.set(key, self._l1_form(value, raw), ttl=None, generation=generation)
        return value

    def get_or_set(self, key: str, loader: Callable[[], Any], ttl: float | None, tags: Iterable[str] = ()) -> Any:
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
                self.set(key, value, ttl=ttl, tags=tags, publish=False, generation=generation)
                return value
            finally:
                if lock is not None:
                    with contextlib.suppress(Exception):
                        lock.release()

    # ---- writes -------------------------------------------------------------------------------
    def set(self, key: str, value: Any, *, ttl: float | None, tags: Iterable[str] = (), publish: bool = True,
            generation: int | None = None) -> bool:
        """Write L2 (+ tag sets) and L1; other processes drop their L1 copy (publish=True)."""
        tags = list(tags)
        payload = self.encode(key, value)
        life = ttl if ttl is not None else self.default_ttl
        full = self.make_key(key)

        def write(r: redis.Redis) -> bool:
            pipe = r.pipeline(transaction=False)
            pipe.set(full, payload, px=max(1, int(life * 1000)))
            for tag in tags:
                tkey = self.make_key(f"tag:{tag}")
                pipe.sadd(tkey, key)
                pipe.expire(tkey, int(life) + 60, gt=False)
            if publish:
                pipe.publish(self.channel, self._message(keys=[key]))
            pipe.execute()
            return True

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
            for tag in message["tags"]:
                keys += [m.decode() for m in r.smembers(self.make_key(f"tag:{tag}"))]
            full = [self.make_key(k) for k in keys] + [self.make_key(f"tag:{t}") for t in message["tags"]]
            deleted = 0
            if message["pattern"] or message["all"]:
                match = self.make_key(message["pattern"] or "*")
                batch = []
                for k in r.scan_iter(match=match, count=1000):
                    batch.append(k)
                    if len(batch) >= 1000:
                        deleted += r.unlink(*batch)
                        batch = []
                if batch:
                    deleted += r.unlink(*batch)
            pipe = r.pipeline(transaction=False)
            for i in range(0, len(full), 1000):
                pipe.unlink(*full[i:i + 1000])
            pipe.publish(self.channel, self._message(**{**message, "keys": keys}))
            results = pipe.execute()
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


_fork_count = 0


_instances: weakref.WeakSet[TwoLevelCache] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    """A forked child (Celery prefork, gunicorn) has no subscriber thread: make caches start one.

    Locks are recreated too: one held by another thread at fork time would never be released here.
    """
    global _fork_count
    _fork_count += 1
    for c in list(_instances):
        c._reinit_after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)


class _Encoded:
    __slots__ = ("payload",)

    def __init__(self, payload: Any) -> None:
        self.payload = payload
