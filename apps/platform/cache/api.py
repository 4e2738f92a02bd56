"""The key/value cache API: one two-level cache per alias per process, and the calls on it.

`cache_get`/`cache_set`/`cache_get_or_set`/`cache_delete(_many)`/`cache_invalidate_tags`/
`cache_invalidate_pattern` validate their input (key and tag size, TTL, over-broad patterns) and
run invalidations after commit (`transactions`). The row cache (`rows`) is built on these.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from django.core.signals import setting_changed

from apps.common.errors import ValidationFailed
from apps.platform.cache.engine import TwoLevelCache
from apps.platform.cache.guards import check_key, check_pattern, check_ttl
from apps.platform.cache.local import MISSING
from apps.platform.cache.transactions import after_commit, mark_dirty

T = TypeVar("T")

_caches: dict[str, TwoLevelCache] = {}
_caches_lock = threading.Lock()


def get_cache(alias: str = "default") -> TwoLevelCache:
    """The process's two-level cache for a Django cache alias (created lazily)."""
    found = _caches.get(alias)
    if found is None:
        with _caches_lock:
            found = _caches.get(alias)
            if found is None:
                found = _caches[alias] = TwoLevelCache(alias)
    return found


def caches_in_process() -> list[tuple[str, TwoLevelCache]]:
    """(alias, cache) of every cache this process has created, for exporters (metrics)."""
    return list(_caches.items())


def reset_caches() -> None:
    """Forget every instance (stops their subscriber threads); settings changed or tests."""
    with _caches_lock:
        for c in _caches.values():
            c.stop()
        _caches.clear()


def _on_setting_changed(setting: str, **kwargs: Any) -> None:
    if setting == "CACHES" or setting.startswith("AGENCY_CACHE"):
        reset_caches()


atexit.register(reset_caches)
setting_changed.connect(_on_setting_changed, dispatch_uid="apps.platform.cache.reset_on_settings")


def _check_tags(tags: Iterable[str] | None) -> list[str]:
    if tags is None:
        return []
    if isinstance(tags, str):
        raise ValidationFailed("tags must be a list of strings, not a string", code="invalid_tags")
    out = list(tags)
    for i, tag in enumerate(out):
        check_key(tag, f"tag [{i}]")
    return out


# ---- the small API ------------------------------------------------------------------------------
def cache_get(key: str, default: Any = None, *, alias: str = "default") -> Any:
    """The value from L1, else L2 (then kept in L1); `default` on a miss or with Redis down.

    Values come back as copies (unpickled), so a caller may mutate what it gets.
    """
    c = _caches.get(alias) or get_cache(alias)
    if type(key) is not str or not key or len(key) > c.short_key_chars:
        check_key(key)  # the full check only when the cheap one cannot vouch for the key
    value = c._get(key)
    return default if value is MISSING else value


def cache_set(key: str, value: Any, *, ttl: float | None = None, tags: Iterable[str] | None = None,
              alias: str = "default") -> bool:
    """Store in L2 and L1 and tell other processes to drop their L1 copy. False if Redis is down."""
    check_key(key)
    ttl = check_ttl(ttl)
    return get_cache(alias).set(key, value, ttl=ttl, tags=_check_tags(tags))


def cache_get_or_set(key: str, loader: Callable[[], T], *, ttl: float | None = None,
                     tags: Iterable[str] | None = None, alias: str = "default") -> T:
    """The cached value, or `loader()` stored; concurrent misses (threads or processes) load once."""
    check_key(key)
    ttl = check_ttl(ttl)
    return get_cache(alias).get_or_set(key, loader, ttl=ttl, tags=_check_tags(tags))


def cache_delete(key: str, *, on_commit: bool = True, alias: str = "default") -> int | None:
    return cache_delete_many([key], on_commit=on_commit, alias=alias)


def cache_delete_many(keys: Iterable[str], *, on_commit: bool = True, alias: str = "default") -> int | None:
    """Delete on commit (at once outside a transaction or with on_commit=False).

    Returns the number of L2 keys deleted when run at once, None when deferred to the commit.
    """
    if isinstance(keys, str):
        raise ValidationFailed("keys must be a list of strings, not a string", code="invalid_key")
    keys = list(keys)
    for i, key in enumerate(keys):
        check_key(key, f"key [{i}]")
    if not keys:
        return 0
    c = get_cache(alias)
    for key in keys:
        mark_dirty(key)
    return after_commit(lambda: c.invalidate(keys=keys), lambda: c.local.delete_many(keys), on_commit)


def cache_invalidate_tags(tags: Iterable[str], *, on_commit: bool = True, alias: str = "default") -> int | None:
    """Delete every key stored with any of `tags` (and the tag sets), on commit."""
    tags = _check_tags(tags)
    if not tags:
        raise ValidationFailed("give at least one tag", code="invalid_tags")
    c = get_cache(alias)
    return after_commit(lambda: c.invalidate(tags=tags), lambda: c.local.drop_tags(tags), on_commit)


def cache_invalidate_pattern(pattern: str, *, allow_all: bool = False, on_commit: bool = True,
                             alias: str = "default") -> int | None:
    """Delete the keys matching a Redis glob (SCAN, not KEYS); refuses `""`/`"*"` unless allow_all."""
    pattern = check_pattern(pattern, allow_all=allow_all)
    c = get_cache(alias)
    return after_commit(lambda: c.invalidate(pattern=pattern), lambda: c.local.drop_pattern(pattern), on_commit)


__all__ = [
    "MISSING", "cache_delete", "cache_delete_many", "cache_get", "cache_get_or_set", "cache_invalidate_pattern",
    "cache_invalidate_tags", "cache_set", "caches_in_process", "get_cache", "reset_caches",
]
