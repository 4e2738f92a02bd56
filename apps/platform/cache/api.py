"""The project's key/value calls, on the engine behind a ``CACHES`` alias (one per alias per process).

`cache_get`/`cache_set`/`cache_get_or_set`/`cache_delete(_many)`/`cache_invalidate_tags`/
`cache_invalidate_pattern` validate their input (key and tag size, TTL, over-broad patterns) with
the API's errors (400/413), and run invalidations after commit (`transactions`). They share the
engine, and so the keys, L1 and coherence, of Django's ``caches[alias]`` (`backends.TwoLevelCache`):
``cache_get("k")`` and ``caches["default"].get("k")`` read the same entry. The row cache (`rows`) is
built on these.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from django.conf import settings
from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.utils.module_loading import import_string

from apps.common.errors import ValidationFailed
from apps.platform.cache.backends import TwoLevelCache
from apps.platform.cache.engine import CacheEngine, find_engine, stop_engines
from apps.platform.cache.guards import check_key, check_pattern, check_ttl
from apps.platform.cache.local import MISSING
from apps.platform.cache.transactions import after_commit, mark_dirty

T = TypeVar("T")

_by_alias: dict[str, CacheEngine] = {}  # memo of get_cache (the engine is shared by every thread)
_isolated: list[CacheEngine] = []
_lock = threading.Lock()


def get_cache(alias: str = "default") -> CacheEngine:
    """The process's engine of a Django cache alias (its ``CACHES`` entry must be a `TwoLevelCache`)."""
    found = _by_alias.get(alias)
    if found is None or found.stopped:
        backend = caches[alias]
        if not isinstance(backend, TwoLevelCache):
            raise ImproperlyConfigured(f"CACHES[{alias!r}] is {type(backend).__name__}; the project's cache calls "
                                       "need apps.platform.cache.backends.TwoLevelCache")
        found = _by_alias[alias] = backend.engine
    return found


def isolated_engine(alias: str = "default") -> CacheEngine:
    """A new engine with the alias's configuration sharing nothing in this process (L1, subscriber,
    origin): what another process would have. For tests and benchmarks; `reset_caches` stops it."""
    params = {k: v for k, v in settings.CACHES[alias].items() if k not in ("BACKEND", "LOCATION")}
    engine = CacheEngine(settings.CACHES[alias].get("LOCATION", ""), params, isolated=True)
    with _lock:
        _isolated.append(engine)
    return engine


def caches_in_process() -> list[tuple[str, CacheEngine]]:
    """(alias, engine) of every two-level cache this process has started, for exporters (metrics)."""
    found = []
    for alias, conf in settings.CACHES.items():
        try:
            is_ours = issubclass(import_string(conf["BACKEND"]), TwoLevelCache)
        except ImportError:
            continue
        if is_ours:
            params = {k: v for k, v in conf.items() if k not in ("BACKEND", "LOCATION")}
            engine = find_engine(conf.get("LOCATION", ""), params)
            if engine is not None:
                found.append((alias, engine))
    return found


def reset_caches() -> None:
    """Stop every engine of this process (their subscriber threads end); settings changed, or tests.

    Django's backend instances re-attach to a fresh engine on their next call.
    """
    with _lock:
        _by_alias.clear()
        for engine in _isolated:
            engine.stop()
        _isolated.clear()
    stop_engines()


def _on_setting_changed(setting: str, **kwargs: Any) -> None:
    if setting == "CACHES" or setting.startswith("AGENCY_CACHE"):
        reset_caches()


atexit.register(reset_caches)
setting_changed.connect(_on_setting_changed, dispatch_uid="apps.platform.cache.reset_on_settings")


def _check_tags(tags: Iterable[str] | None, limit: int) -> list[str]:
    if tags is None:
        return []
    if isinstance(tags, str):
        raise ValidationFailed("tags must be a list of strings, not a string", code="invalid_tags")
    out = list(tags)
    for i, tag in enumerate(out):
        check_key(tag, f"tag [{i}]", limit=limit)
    return out


# ---- the small API ------------------------------------------------------------------------------
def cache_get(key: str, default: Any = None, *, alias: str = "default") -> Any:
    """The value from L1, else L2 (then kept in L1); `default` on a miss or with Redis down.

    Values come back as copies (unpickled), so a caller may mutate what it gets.
    """
    c = _by_alias.get(alias) or get_cache(alias)
    if type(key) is not str or not key or len(key) > c.short_key_chars:
        check_key(key, limit=c.max_key_bytes)  # the full check only when the cheap one cannot vouch for the key
    value = c._get(key)
    return default if value is MISSING else value


def cache_set(key: str, value: Any, *, ttl: float | None = None, tags: Iterable[str] | None = None,
              alias: str = "default") -> bool:
    """Store in L2 and L1 and tell other processes to drop their L1 copy. False if Redis is down."""
    c = get_cache(alias)
    check_key(key, limit=c.max_key_bytes)
    ttl = check_ttl(ttl)
    return c.set(key, value, ttl=ttl, tags=_check_tags(tags, c.max_key_bytes))


def cache_get_or_set(key: str, loader: Callable[[], T], *, ttl: float | None = None,
                     tags: Iterable[str] | None = None, alias: str = "default") -> T:
    """The cached value, or `loader()` stored; concurrent misses (threads or processes) load once."""
    c = get_cache(alias)
    check_key(key, limit=c.max_key_bytes)
    ttl = check_ttl(ttl)
    return c.get_or_set(key, loader, ttl=ttl, tags=_check_tags(tags, c.max_key_bytes))


def cache_delete(key: str, *, on_commit: bool = True, alias: str = "default") -> int | None:
    return cache_delete_many([key], on_commit=on_commit, alias=alias)


def cache_delete_many(keys: Iterable[str], *, on_commit: bool = True, alias: str = "default") -> int | None:
    """Delete on commit (at once outside a transaction or with on_commit=False).

    Returns the number of L2 keys deleted when run at once, None when deferred to the commit.
    """
    if isinstance(keys, str):
        raise ValidationFailed("keys must be a list of strings, not a string", code="invalid_key")
    keys = list(keys)
    c = get_cache(alias)
    for i, key in enumerate(keys):
        check_key(key, f"key [{i}]", limit=c.max_key_bytes)
    if not keys:
        return 0
    for key in keys:
        mark_dirty(key)
    return after_commit(lambda: c.invalidate(keys=keys), lambda: c.drop_local(keys=keys), on_commit)


def cache_invalidate_tags(tags: Iterable[str], *, on_commit: bool = True, alias: str = "default") -> int | None:
    """Delete every key stored with any of `tags` (and the tag sets), on commit."""
    c = get_cache(alias)
    tags = _check_tags(tags, c.max_key_bytes)
    if not tags:
        raise ValidationFailed("give at least one tag", code="invalid_tags")
    return after_commit(lambda: c.invalidate(tags=tags), lambda: c.drop_local(tags=tags), on_commit)


def cache_invalidate_pattern(pattern: str, *, allow_all: bool = False, on_commit: bool = True,
                             alias: str = "default") -> int | None:
    """Delete the keys matching a Redis glob (SCAN, not KEYS); refuses `""`/`"*"` unless allow_all."""
    pattern = check_pattern(pattern, allow_all=allow_all)
    c = get_cache(alias)
    return after_commit(lambda: c.invalidate(pattern=pattern), lambda: c.drop_local(pattern=pattern), on_commit)


__all__ = [
    "MISSING", "cache_delete", "cache_delete_many", "cache_get", "cache_get_or_set", "cache_invalidate_pattern",
    "cache_invalidate_tags", "cache_set", "caches_in_process", "get_cache", "isolated_engine", "reset_caches",
]
