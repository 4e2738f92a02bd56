"""The two-level cache engine: L1 (in-process LRU) in front of L2 (Redis), one per configuration.

`CacheEngine` is what both faces of the cache run on: Django's cache API (`backends.TwoLevelCache`,
the ``CACHES`` backend, one instance per thread as Django makes them) and the project's calls
(`api`: ``cache_get``, tags, patterns, single-flight fills, the row cache). Every thread's backend
instance of one ``CACHES`` entry shares one engine (`engine_for`), so a process has one L1 and
one invalidation subscriber per cache, not one per thread.

Keys: the engine works on full Redis keys (Django's ``make_key``: ``<prefix>:<version>:<key>``);
the project calls pass their key and the engine prefixes it with the default version. L1 is keyed
by the full key too, so versions and prefixes never mix.

Coherence: every write or invalidation deletes or overwrites in L2 and PUBLISHes a JSON message
(``{"origin", "at", "keys", "tags", "pattern"}``, keys and pattern as full keys) on the cache's
invalidation channel, in the same round trip; each engine's subscriber thread drops the matching L1
entries. Engines of the same Redis in this process drop theirs synchronously as well, so a write
through one alias (or version) is never hidden by another alias's L1. L1 is only served while the
subscription is confirmed alive, and an entry filled from L2 lives no longer than the key's
remaining TTL there (``GET`` and ``PTTL`` travel together, `wire.roundtrip`).

Redis down: a connection error opens a short circuit (``RETRY_INTERVAL``) during which calls fail
at once without touching the network, errors are logged at most once per ``ERROR_LOG_INTERVAL``,
and invalidations that could not be delivered are replayed when Redis answers again. Engine calls
raise one of `REDIS_ERRORS`; the project's API and the Django backend (``IGNORE_EXCEPTIONS``)
decide whether to swallow them.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import redis
from django.core.cache.backends.base import default_key_func, get_key_func
from django.utils.module_loading import import_string
from redis.exceptions import ResponseError

from apps.common.errors import PayloadTooLarge, ValidationFailed
from apps.platform.cache.codec import Codec, Encoded
from apps.platform.cache.coherence import CoherenceMixin, register_instance, sibling_instances
from apps.platform.cache.guards import ACCESS_KEY, REDIS_ERRORS, STATS_KEY, ThrottledLog, process_id
from apps.platform.cache.local import MISSING, LocalCache
from apps.platform.cache.wire import first_error, get_with_pttl, roundtrip

# The engine's own options in CACHES[alias]["OPTIONS"], with their defaults. Everything else in
# OPTIONS goes to django-redis (CLIENT_CLASS, SOCKET_TIMEOUT, CONNECTION_POOL_KWARGS, SERIALIZER, …).
ENGINE_OPTIONS: dict[str, Any] = {
    "L1_MAX_ENTRIES": 10_000,  # entries in each process's L1 (LRU); 0 turns L1 off
    "L1_TTL": 30.0,  # longest life of an L1 entry (s): the safety net should a message be lost
    "INVALIDATION_CHANNEL": "agency:cache:invalidate",
    "MAX_KEY_BYTES": 1024,  # hard limit on a full key (UTF-8 bytes)
    "MAX_VALUE_BYTES": 1024 * 1024,  # hard limit on an encoded value
    "RETRY_INTERVAL": 1.0,  # after a Redis connection error, skip Redis this long (s)
    "ERROR_LOG_INTERVAL": 60.0,  # Redis errors are logged at most once per this many seconds
    "FILL_LOCK_TIMEOUT": 30.0,  # single-flight: how long a loader may hold a key's fill lock (s)
    "FILL_WAIT": 10.0,  # … and how long concurrent misses wait for it (s)
    "ACCESS_MAX_KEYS": 200_000,  # most-read keys kept in the access-count sorted set (warming)
    "FAST_ROUNDTRIP": True,  # `wire.roundtrip`'s fast path; False = redis-py's pipeline
    "IGNORE_EXCEPTIONS": False,  # Django API only: a Redis error reads as a miss / failed write
}

# SET with tags and/or a fill lease, plus the invalidation message, in one round trip. A tag set's
# TTL only ever grows (so it outlives its longest member; a member without expiry makes it
# permanent). With a lease token (single-flight fill) the write only happens if the fill lock still
# holds that token: an invalidation deletes the lock, so a loader that read the database before a
# concurrent write cannot put its stale value into L2 afterwards.
# KEYS: value key, fill-lock key (or the value key again), tag set keys. ARGV: lease, payload,
# life in ms ('' = no expiry), tag set member, tag set life in ms, channel ('' = none), message.
_SET_LUA = """
if ARGV[1] ~= '' and redis.call('get', KEYS[2]) ~= ARGV[1] then return 0 end
if ARGV[3] == '' then redis.call('set', KEYS[1], ARGV[2]) else redis.call('set', KEYS[1], ARGV[2], 'PX', ARGV[3]) end
for i = 3, #KEYS do
  local fresh = redis.call('exists', KEYS[i]) == 0
  redis.call('sadd', KEYS[i], ARGV[4])
  if ARGV[3] == '' then
    redis.call('persist', KEYS[i])
  else
    local left = redis.call('pttl', KEYS[i])
    if fresh or (left >= 0 and left < tonumber(ARGV[5])) then redis.call('pexpire', KEYS[i], ARGV[5]) end
  end
end
if ARGV[6] ~= '' then redis.call('publish', ARGV[6], ARGV[7]) end
return 1
"""

# Atomic INCRBY of an existing key (keeping its TTL), and its invalidation message. nil = no such key.
_INCR_LUA = """
if redis.call('exists', KEYS[1]) == 0 then return false end
local n = redis.call('incrby', KEYS[1], ARGV[1])
redis.call('publish', ARGV[2], ARGV[3])
return n
"""

# RENAME (keeps the TTL and the encoded value) for incr_version, and its message. 0 = no such key.
_RENAME_LUA = """
if redis.call('exists', KEYS[1]) == 0 then return 0 end
redis.call('rename', KEYS[1], KEYS[2])
redis.call('publish', ARGV[1], ARGV[2])
return 1
"""


class CacheUnavailable(redis.exceptions.ConnectionError):
    """Redis failed a moment ago; the engine does not try again before RETRY_INTERVAL has passed."""


class ValueTooLarge(ValueError):
    """The encoded value is over the cache's MAX_VALUE_BYTES."""


def fill_key(full: str) -> str:
    """The single-flight fill lock of a full key (deleted by every invalidation of that key)."""
    return "fill:" + full


def glob_escape(text: str) -> str:
    """`text` as a literal in a Redis glob (and in fnmatch, which L1 uses): ``[*]`` style."""
    return "".join(f"[{c}]" if c in "*?[]" else c for c in text)


def split_options(params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the engine's options with defaults, the OPTIONS left for django-redis)."""
    options = dict(params.get("OPTIONS") or {})
    ours = {name: options.pop(name, default) for name, default in ENGINE_OPTIONS.items()}
    options.pop("MAX_ENTRIES", None)  # BaseCache culling knobs: Redis evicts by itself
    options.pop("CULL_FREQUENCY", None)
    return ours, options


class CacheEngine(CoherenceMixin):
    """L1 + L2 of one ``CACHES`` configuration in this process; see the module docstring."""

    def __init__(self, location: str | list[str], params: dict[str, Any], *, isolated: bool = False) -> None:
        self.options, redis_options = split_options(params)
        o = self.options
        timeout = params.get("TIMEOUT", 300)
        self.default_timeout: float | None = None if timeout is None else int(timeout)
        self.key_prefix: str = params.get("KEY_PREFIX", "")
        self.version: int = params.get("VERSION", 1)
        self.key_func = get_key_func(params.get("KEY_FUNCTION"))
        client_class = import_string(redis_options.get("CLIENT_CLASS", "django_redis.client.DefaultClient"))
        # django-redis owns connections (pools shared per URL and options, SOCKET_* options,
        # Sentinel/replica settings); `self` stands in for its backend (key_func, prefix, version).
        self.client = client_class(location, {**params, "OPTIONS": redis_options}, self)
        servers = location.split(",") if isinstance(location, str) else list(location)
        self.location = servers[0]
        self.codec = Codec(redis_options)
        self._l1_loads = self.codec.loads_payload
        self.channel: str = o["INVALIDATION_CHANNEL"]
        self.fast = bool(o["FAST_ROUNDTRIP"])
        self.max_key_bytes = int(o["MAX_KEY_BYTES"])
        self.max_value_bytes = int(o["MAX_VALUE_BYTES"])
        self.short_key_chars = self.max_key_bytes // 4  # a str this short is within the byte limit
        self.local = LocalCache(max_entries=o["L1_MAX_ENTRIES"], max_ttl=o["L1_TTL"])
        self.errors = ThrottledLog(float(o["ERROR_LOG_INTERVAL"]))
        self.retry_interval = float(o["RETRY_INTERVAL"])
        self.fill_lock_timeout = float(o["FILL_LOCK_TIMEOUT"])
        self.fill_wait = float(o["FILL_WAIT"])
        self.access_max_keys = int(o["ACCESS_MAX_KEYS"])
        self.isolated = isolated
        self.stopped = False
        self._down_until = 0.0
        self._client_cache: redis.Redis | None = None
        self._scripts: dict[str, Any] = {}
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
        # The project's keys use the default version; with the default key function that is a prefix.
        self._prefix = f"{self.key_prefix}:{self.version}:" if self.key_func is default_key_func else None
        register_instance(self)

    # ---- keys -----------------------------------------------------------------------------------
    def make_key(self, key: str) -> str:
        """The full Redis key of a project key (default version), as Django's ``make_key`` builds it."""
        if self._prefix is not None:
            return self._prefix + key
        return str(self.key_func(key, self.key_prefix, self.version))

    def check_key_size(self, full: str) -> None:
        if len(full) > self.short_key_chars and len(full.encode()) > self.max_key_bytes:
            raise ValueError(f"cache key is {len(full.encode())} bytes, over the limit of {self.max_key_bytes}")

    # ---- Redis access -------------------------------------------------------------------------
    @property
    def redis(self) -> redis.Redis:
        return self._raw_client()

    def _raw_client(self) -> redis.Redis:
        found = self._client_cache
        if found is None:
            found = self._client_cache = self.client.get_client(write=True)
        return found

    def available(self) -> bool:
        return time.monotonic() >= self._down_until

    def _failed(self, what: str, exc: BaseException) -> None:
        if isinstance(exc, CacheUnavailable):
            return
        self.l2_errors += 1
        self._down_until = time.monotonic() + self.retry_interval
        self.errors.report(what, exc)

    def run(self, what: str, fn: Callable[[redis.Redis], Any]) -> Any:
        """`fn(redis)`, raising one of REDIS_ERRORS when Redis fails (logged, throttled; circuit opened)."""
        if self._down_until and not self.available():
            raise CacheUnavailable(f"cache: Redis failed less than {self.retry_interval}s ago")
        try:
            if self._pending and what != "invalidate":
                self._replay_pending()  # Redis is back but missed invalidations: apply them first
            return fn(self._raw_client())
        except REDIS_ERRORS as exc:
            self._failed(what, exc)
            raise

    def call(self, what: str, fn: Callable[[redis.Redis], Any], default: Any = None) -> Any:
        """`run`, but `default` instead of an exception when Redis is unavailable."""
        try:
            return self.run(what, fn)
        except REDIS_ERRORS:
            return default

    def _script(self, name: str, source: str, r: redis.Redis) -> Any:
        found = self._scripts.get(name)
        if found is None:
            found = self._scripts[name] = r.register_script(source)
        return found

    def _pend(self, message: dict[str, Any]) -> None:
        """Remember an invalidation Redis did not receive, to replay it before Redis serves again.

        Also for a failed write: its key may still hold the previous value there (a session that
        was logged out, say), which must not come back when Redis does.
        """
        message = {"keys": [], "tags": [], "pattern": None, **message}
        with self._pending_lock:
            if len(self._pending) < 10_000:
                self._pending.append(message)
            else:  # too much missed: drop this cache's whole namespace when Redis is back
                self._pending = [{"keys": [], "tags": [], "pattern": self.full_pattern("*")}]

    def _write(self, keys: list[str], fn: Callable[[], Any]) -> Any:
        """Run a write; if Redis did not take it, its keys are invalidated once Redis is back."""
        try:
            return fn()
        except REDIS_ERRORS:
            self._pend({"keys": keys})
            raise

    def _send(self, what: str, commands: list[tuple[Any, ...]]) -> list[Any]:
        replies = self.run(what, lambda r: roundtrip(r, commands, fast=self.fast))
        error = first_error(replies)
        if error is not None:
            raise error
        return replies

    # ---- encoding -----------------------------------------------------------------------------
    def encode_strict(self, value: Any) -> bytes | int:
        """The Redis form of `value`; pickling errors propagate, ValueTooLarge over the size limit."""
        payload = self.codec.encode(value)
        if type(payload) is bytes and len(payload) > self.max_value_bytes:
            raise ValueTooLarge(f"the value is {len(payload)} bytes encoded, over {self.max_value_bytes}")
        return payload

    def encode(self, key: str, value: Any) -> bytes | int:
        """`encode_strict` with the project API's errors (400 / 413 naming the key)."""
        try:
            return self.encode_strict(value)
        except ValueTooLarge:
            payload = self.codec.encode(value)
            raise PayloadTooLarge(
                f"value for cache key {key!r} is {len(payload)} bytes encoded, over {self.max_value_bytes}",
                details={"key": key, "limit": self.max_value_bytes}) from None
        except Exception as exc:  # noqa: BLE001 - pickle raises many types
            raise ValidationFailed(f"value for cache key {key!r} is not serialisable: {type(exc).__name__}: {exc}",
                                   code="not_serialisable") from exc

    # ---- reads (full keys) ----------------------------------------------------------------------
    def lookup(self, full: str) -> Any:
        """The value of a full key from L1, else L2 (then kept in L1 for at most its L2 TTL); MISSING."""
        use_l1 = self._healthy or self.l1_usable()  # _healthy is reset in a forked child
        if use_l1:
            stored = self.local.get(full)
            if stored is not MISSING:
                return self._l1_loads(stored.payload) if type(stored) is Encoded else stored
        return self._fetch(full, use_l1)

    def _fetch(self, full: str, use_l1: bool) -> Any:
        """The L2 half of `lookup`: GET and PTTL in one round trip, then the L1 fill."""
        generation = self.local.generation
        replies = self.run("get", lambda r: get_with_pttl(r, full, fast=self.fast))
        raw, pttl = replies
        if isinstance(raw, ResponseError):  # e.g. WRONGTYPE: the key holds a tag set
            raise raw
        if raw is None:
            self.l2_misses += 1
            return MISSING
        self.l2_hits += 1
        value = self.codec.decode(raw)
        if use_l1 and pttl != -2:
            self.local.set(full, self.codec.l1_form(value, raw), ttl=None if pttl < 0 else pttl / 1000,
                           generation=generation)
        return value

    def lookup_many(self, fulls: list[str]) -> dict[str, Any]:
        """Values of full keys: from L1 where it has them, the rest in one MGET (not put into L1).

        One MGET and no PTTL: filling L1 here would need each key's TTL, which costs about as much
        again as the MGET; a key read by `lookup` later is filled then.
        """
        found: dict[str, Any] = {}
        todo = fulls
        if self._healthy or self.l1_usable():
            todo = []
            loads = self._l1_loads
            for full in fulls:
                stored = self.local.get(full)
                if stored is MISSING:
                    todo.append(full)
                else:
                    found[full] = loads(stored.payload) if type(stored) is Encoded else stored
        if todo:
            raws = self.run("get_many", lambda r: r.mget(todo))
            decode = self.codec.decode
            for full, raw in zip(todo, raws, strict=True):
                if raw is None:
                    self.l2_misses += 1
                else:
                    self.l2_hits += 1
                    found[full] = decode(raw)
        return found

    def exists(self, full: str) -> bool:
        if (self._healthy or self.l1_usable()) and self.local.get(full) is not MISSING:
            return True
        return bool(self.run("has_key", lambda r: r.exists(full)))

    # ---- writes (full keys) -------------------------------------------------------------------
    def store(self, full: str, value: Any, ms: int | None, **kwargs: Any) -> bool:
        """Write L2 (+ tag sets) and L1 for `ms` milliseconds (None = no expiry; <= 0 = expire now).

        Keywords: `payload` (already encoded), `nx` (only if absent: Django's ``add``), `tags`,
        `publish` (tell other processes to drop their L1 copy; default True), `generation`, and
        `lease` (the fill lock's token: the L2 write is skipped if an invalidation came first).
        """
        return self._write([full], lambda: self._store(full, value, ms, **kwargs))

    def _store(self, full: str, value: Any, ms: int | None, *, payload: Any = None, nx: bool = False,
               tags: Iterable[str] = (), member: str | None = None, publish: bool = True,
               generation: int | None = None, lease: bytes | None = None) -> bool:
        tags = list(tags)
        if payload is None:
            payload = self.encode_strict(value)
        if ms is not None and ms <= 0:
            if not nx:
                self.remove_many([full])
                return True
            added = bool(self._send("add", [("SET", full, payload, "NX")])[0])
            if added:
                self.remove_many([full])
            return added
        if publish:
            self._drop_everywhere({"keys": [full]})
            generation = self.local.generation if generation is None else generation
        message = self._message(keys=[full]) if publish else ""
        if tags or lease:
            def write(r: redis.Redis) -> bool:
                keys = [full, fill_key(full) if lease else full, *(self.make_key(f"tag:{t}") for t in tags)]
                args = [lease or "", payload, "" if ms is None else ms, member or full,
                        "" if ms is None else ms + 60_000, self.channel if publish else "", message]
                return bool(self._script("set", _SET_LUA, r)(keys=keys, args=args, client=r))

            ok = bool(self.run("set", write))
        else:
            command: tuple[Any, ...] = ("SET", full, payload) if ms is None else ("SET", full, payload, "PX", ms)
            commands = [(*command, "NX") if nx else command]
            if publish:
                commands.append(("PUBLISH", self.channel, message))
            ok = bool(self._send("set", commands)[0])
        if ok and self._healthy:
            self.local.set(full, self.codec.l1_form(value, payload), ttl=None if ms is None else ms / 1000,
                           tags=tags, generation=generation)
        return ok

    def store_many(self, items: dict[str, Any], ms: int | None) -> None:
        """SET every item (one round trip with one invalidation message), or delete them all if ms <= 0."""
        self._write(list(items), lambda: self._store_many(items, ms))

    def _store_many(self, items: dict[str, Any], ms: int | None) -> None:
        payloads = {full: self.encode_strict(value) for full, value in items.items()}
        if ms is not None and ms <= 0:
            self.remove_many(list(items))
            return
        fulls = list(items)
        self._drop_everywhere({"keys": fulls})
        generation = self.local.generation
        commands: list[tuple[Any, ...]] = [
            ("SET", full, payload) if ms is None else ("SET", full, payload, "PX", ms)
            for full, payload in payloads.items()]
        commands.append(("PUBLISH", self.channel, self._message(keys=fulls)))
        self._send("set_many", commands)
        if self._healthy:
            for full, value in items.items():
                self.local.set(full, self.codec.l1_form(value, payloads[full]), ttl=None if ms is None else ms / 1000,
                               generation=generation)

    def remove_many(self, fulls: list[str]) -> int:
        """Delete full keys (and their fill locks) in L2 and every L1; how many existed in L2."""
        if not fulls:
            return 0
        self._drop_everywhere({"keys": fulls})
        commands: list[tuple[Any, ...]] = []
        for i in range(0, len(fulls), 1000):
            batch = fulls[i:i + 1000]
            commands += [("UNLINK", *batch), ("UNLINK", *map(fill_key, batch))]
        commands.append(("PUBLISH", self.channel, self._message(keys=fulls)))
        replies = self._write(fulls, lambda: self._send("delete", commands))
        return sum(int(n) for n in replies[:-1:2])

    def increment(self, full: str, delta: int) -> int:
        """Atomic INCRBY of an existing integer, keeping its TTL; ValueError if absent, TypeError if not an int."""
        self._drop_everywhere({"keys": [full]})

        def incr(r: redis.Redis) -> Any:
            return self._script("incr", _INCR_LUA, r)(keys=[full], args=[delta, self.channel,
                                                                          self._message(keys=[full])], client=r)
        try:
            found = self._write([full], lambda: self.run("incr", incr))
        except redis.exceptions.ResponseError as exc:
            if "overflow" in str(exc):
                raise OverflowError(f"incrementing cache key {full!r} by {delta} would overflow") from exc
            raise TypeError(f"the value of cache key {full!r} is not an integer") from exc
        if found is None:
            raise ValueError(f"Key '{full}' not found.")
        return int(found)

    def expire(self, full: str, ms: int | None) -> bool:
        """Give an existing key a new life (None = no expiry, <= 0 = now); whether it existed."""
        self._drop_everywhere({"keys": [full]})
        change = ("PERSIST", full) if ms is None else ("PEXPIRE", full, max(0, ms))
        commands = [("EXISTS", full), change, ("PUBLISH", self.channel, self._message(keys=[full]))]
        replies = self._write([full], lambda: self._send("touch", commands))
        return bool(replies[0])

    def rename(self, old: str, new: str) -> bool:
        """Move a value to another full key keeping its TTL (incr_version); False if `old` is absent."""
        self._drop_everywhere({"keys": [old, new]})

        def move(r: redis.Redis) -> Any:
            return self._script("rename", _RENAME_LUA, r)(
                keys=[old, new], args=[self.channel, self._message(keys=[old, new])], client=r)
        return bool(self._write([old, new], lambda: self.run("incr_version", move)))

    def clear(self, glob: str) -> int:
        """Delete every key matching `glob` (this cache's namespace) and its fill locks; SCAN, never FLUSHDB."""
        return self.invalidate_full(pattern=glob)

    # ---- the project's calls (project keys, default version) --------------------------------
    def get(self, key: str, default: Any = None) -> Any:
        value = self._get(key)
        return default if value is MISSING else value

    def _get(self, key: str) -> Any:
        """`lookup` of a project key; MISSING on a miss or with Redis unavailable."""
        full = self._prefix + key if self._prefix is not None else self.make_key(key)
        try:
            if self._healthy:  # `lookup` inlined: the project's hottest call
                stored = self.local.get(full)
                if stored is not MISSING:
                    return self._l1_loads(stored.payload) if type(stored) is Encoded else stored
                return self._fetch(full, True)
            return self.lookup(full)
        except REDIS_ERRORS:
            return MISSING
        except redis.exceptions.ResponseError:  # e.g. WRONGTYPE: the key holds a tag set, not a value
            return MISSING

    def set(self, key: str, value: Any, *, ttl: float | None, tags: Iterable[str] = (), publish: bool = True,
            generation: int | None = None, lease: bytes | None = None, payload: Any = None) -> bool:
        """Project write: `ttl` seconds (None = the cache's default timeout). False if Redis is down."""
        life = ttl if ttl is not None else self.default_timeout
        ms = None if life is None else max(1, int(life * 1000))
        if payload is None:
            payload = self.encode(key, value)
        try:
            return self.store(self.make_key(key), value, ms, payload=payload, tags=tags, publish=publish,
                              generation=generation, lease=lease)
        except REDIS_ERRORS:
            return False

    def get_or_set(self, key: str, loader: Callable[[], Any], ttl: float | None, tags: Iterable[str] = (),
                   store_if: Callable[[Any], bool] | None = None) -> Any:
        """The cached value, or `loader()` stored (unless `store_if(value)` says it must not be cached).

        Single flight: one thread per process (striped lock), one process per key (Redis lock).
        """
        value = self._get(key)
        if value is not MISSING:
            return value
        full = self.make_key(key)
        with self._fill_locks[hash(key) % len(self._fill_locks)]:
            value = self._get(key)
            if value is not MISSING:
                return value
            lock = None
            if self.available():
                lock = self._raw_client().lock(fill_key(full), timeout=self.fill_lock_timeout,
                                               blocking_timeout=self.fill_wait)
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
                payload = self.encode(key, value)  # same contract: a value that cannot be cached is an error
                if lock is not None:
                    self.set(key, value, ttl=ttl, tags=tags, publish=False, generation=generation,
                             lease=lock.local.token, payload=payload)
                return value
            finally:
                if lock is not None:
                    with contextlib.suppress(Exception):
                        lock.release()

    def _message(self, **fields: Any) -> str:
        return json.dumps({"origin": self.origin, "at": time.time(), **fields})

    def _drop_everywhere(self, message: dict[str, Any]) -> None:
        """Drop from this engine's L1 and, synchronously, from every engine of the same Redis here."""
        self._drop_local(message)
        if not self.isolated:
            for other in sibling_instances(self):
                other._drop_local(message)

    def full_pattern(self, pattern: str) -> str:
        return self.make_key(pattern)

    def drop_local(self, *, keys: Iterable[str] = (), tags: Iterable[str] = (), pattern: str | None = None) -> None:
        """Drop project keys / tags / a pattern from L1 only (the invalidation itself waits for a commit)."""
        self._drop_everywhere({"keys": [self.make_key(k) for k in keys], "tags": list(tags),
                               "pattern": None if pattern is None else self.full_pattern(pattern)})

    def invalidate(self, *, keys: Iterable[str] = (), tags: Iterable[str] = (), pattern: str | None = None,
                   everything: bool = False) -> int:
        """Project invalidation: delete in L2, drop in every L1, publish. Returns L2 deletions."""
        if everything:
            pattern = "*"
        return self.invalidate_full(keys=[self.make_key(k) for k in keys], tags=tags,
                                    pattern=None if pattern is None else self.full_pattern(pattern))

    def invalidate_full(self, *, keys: Iterable[str] = (), tags: Iterable[str] = (),
                        pattern: str | None = None) -> int:
        """Delete full keys, tagged keys and/or a full-key glob; remembered for replay if Redis is down."""
        message = {"keys": list(keys), "tags": list(tags), "pattern": pattern}
        self._drop_everywhere(message)
        deleted = self._invalidate_l2(message)
        if deleted is None:
            self._pend(message)
            return 0
        return deleted

    def _invalidate_l2(self, message: dict[str, Any]) -> int | None:
        def run(r: redis.Redis) -> int:
            keys = list(message["keys"])
            if not message["tags"] and not message["pattern"]:
                commands: list[tuple[Any, ...]] = []
                for i in range(0, len(keys), 1000):
                    batch = keys[i:i + 1000]
                    commands += [("UNLINK", *batch), ("UNLINK", *map(fill_key, batch))]
                commands.append(("PUBLISH", self.channel, self._message(**message)))
                replies = roundtrip(r, commands, fast=self.fast)
                error = first_error(replies)
                if error is not None:
                    raise error
                return sum(int(n) for n in replies[:-1:2])
            for tag in message["tags"]:
                keys += [m.decode() for m in r.smembers(self.make_key(f"tag:{tag}"))]
            deleted = 0
            if message["pattern"]:
                for match, counted in ((message["pattern"], True), (fill_key(message["pattern"]), False)):
                    batch: list[bytes] = []
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
            for i in range(0, len(keys), 1000):
                pipe.unlink(*keys[i:i + 1000])
            others = [fill_key(k) for k in keys] + [self.make_key(f"tag:{t}") for t in message["tags"]]
            for i in range(0, len(others), 1000):
                pipe.unlink(*others[i:i + 1000])
            pipe.publish(self.channel, self._message(**{**message, "keys": keys}))
            results = pipe.execute()
            value_batches = (len(keys) + 999) // 1000
            if len(keys) > len(message["keys"]):
                self.local.delete_many(keys)  # L1 copies filled from L2 do not know their tags
            return deleted + sum(results[:value_batches])

        try:
            return self.run("invalidate", run)
        except REDIS_ERRORS:
            return None

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
        """Hits and misses per level, L1 evictions, fills (loader calls), invalidations received, errors."""
        return {
            "l1_hits": self.local.hits, "l1_misses": self.local.misses, "l1_evictions": self.local.evictions,
            "l2_hits": self.l2_hits, "l2_misses": self.l2_misses, "loads": self.loads, "errors": self.l2_errors,
            "invalidations_received": self.deliveries,
        }


# ---- one engine per configuration per process -------------------------------------------------
_engines: dict[str, CacheEngine] = {}
_engines_lock = threading.Lock()


def _config_key(location: Any, params: dict[str, Any]) -> str:
    def canonical(value: Any) -> Any:
        if isinstance(value, dict):
            return sorted((str(k), canonical(v)) for k, v in value.items())
        if isinstance(value, list | tuple):
            return [canonical(v) for v in value]
        return repr(value)

    return json.dumps([canonical(location), canonical(params)])


def engine_for(location: Any, params: dict[str, Any]) -> CacheEngine:
    """The process's engine for a CACHES configuration (created on first use, shared by all threads)."""
    key = _config_key(location, params)
    found = _engines.get(key)
    if found is None or found.stopped:
        with _engines_lock:
            found = _engines.get(key)
            if found is None or found.stopped:
                found = _engines[key] = CacheEngine(location, params)
    return found


def find_engine(location: Any, params: dict[str, Any]) -> CacheEngine | None:
    """The engine of a configuration if this process has created it (exporters must not create one)."""
    found = _engines.get(_config_key(location, params))
    return None if found is None or found.stopped else found


def stop_engines() -> None:
    """Stop and forget every shared engine (their subscriber threads end); settings changed, or tests."""
    with _engines_lock:
        for engine in _engines.values():
            engine.stop()
        _engines.clear()
