"""The cache service API the other apps use: one two-level cache per process.

Contract used by agents, tasks and embeddings selectors — keep these signatures:

* ``instance_get(model, pk)`` returns the row by primary key through the cache (L1 → L2 → the
  database, single-flight), raising ``model.DoesNotExist`` like ``Model.objects.get``;
* ``instances_invalidate(model, pks)`` drops cached rows after a commit; services that write with
  ``QuerySet.update()`` or raw SQL (no signals) call it themselves. ``save()``/``delete()`` of a
  model listed in ``settings.AGENCY_CACHED_MODELS`` are invalidated by signal receivers.

Lists are NOT cached: list endpoints are filtered, ordered and paginated in many combinations, and
the cached tables (agents, tasks) change constantly, so a tag flushing every list of a model on each
row write would give a near-zero hit rate for extra Redis traffic, while PostgreSQL serves an
indexed page in about a millisecond. Row entries carry the tag ``model:<label>`` so a whole model
can still be dropped with ``cache_invalidate_tags``.
"""

from __future__ import annotations

import atexit
import contextlib
import threading
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.signals import setting_changed
from django.db import models, transaction

from apps.cache.backend import TwoLevelCache, check_key, check_pattern, check_ttl
from apps.cache.local import MISSING
from apps.common.errors import ValidationFailed

M = TypeVar("M", bound=models.Model)
T = TypeVar("T")

_caches: dict[str, TwoLevelCache] = {}
_caches_lock = threading.Lock()
_dirty = threading.local()  # keys this thread invalidated inside a not-yet-committed transaction


def get_cache(alias: str = "default") -> TwoLevelCache:
    """The process's two-level cache for a Django cache alias (created lazily)."""
    found = _caches.get(alias)
    if found is None:
        with _caches_lock:
            found = _caches.get(alias)
            if found is None:
                found = _caches[alias] = TwoLevelCache(alias)
    return found


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
setting_changed.connect(_on_setting_changed, dispatch_uid="apps.cache.reset_on_settings")


def _check_tags(tags: Iterable[str] | None) -> list[str]:
    if tags is None:
        return []
    if isinstance(tags, str):
        raise ValidationFailed("tags must be a list of strings, not a string", code="invalid_tags")
    out = list(tags)
    for i, tag in enumerate(out):
        check_key(tag, f"tag [{i}]")
    return out


def _after_commit(run: Callable[[], int], local_drop: Callable[[], Any], on_commit: bool = True) -> int | None:
    """Run an invalidation now (autocommit) or once the transaction commits; L1 drops at once too."""
    if on_commit and transaction.get_connection().in_atomic_block:
        local_drop()
        transaction.on_commit(run)
        return None
    return run()


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
        _mark_dirty(key)
    return _after_commit(lambda: c.invalidate(keys=keys), lambda: c.local.delete_many(keys), on_commit)


def cache_invalidate_tags(tags: Iterable[str], *, on_commit: bool = True, alias: str = "default") -> int | None:
    """Delete every key stored with any of `tags` (and the tag sets), on commit."""
    tags = _check_tags(tags)
    if not tags:
        raise ValidationFailed("give at least one tag", code="invalid_tags")
    c = get_cache(alias)
    return _after_commit(lambda: c.invalidate(tags=tags), lambda: c.local.drop_tags(tags), on_commit)


def cache_invalidate_pattern(pattern: str, *, allow_all: bool = False, on_commit: bool = True,
                             alias: str = "default") -> int | None:
    """Delete the keys matching a Redis glob (SCAN, not KEYS); refuses `""`/`"*"` unless allow_all."""
    pattern = check_pattern(pattern, allow_all=allow_all)
    c = get_cache(alias)
    return _after_commit(lambda: c.invalidate(pattern=pattern), lambda: c.local.drop_pattern(pattern), on_commit)


# ---- row cache ----------------------------------------------------------------------------------
def instance_key(model: type[models.Model], pk: Any) -> str:
    """`model:<app.model>:<pk>` with the pk in canonical form ("ABC…" and UUID("abc…") share a key)."""
    with contextlib.suppress(ValidationError):  # a malformed pk: the database lookup raises the proper error
        pk = model._meta.pk.to_python(pk)
    return f"model:{model._meta.label_lower}:{pk}"


def model_tag(model: type[models.Model]) -> str:
    return f"model:{model._meta.label_lower}"


def _mark_dirty(key: str) -> None:
    if transaction.get_connection().in_atomic_block:
        keys = getattr(_dirty, "keys", None)
        if keys is None:
            keys = _dirty.keys = set()
        keys.add(key)
        transaction.on_commit(lambda: keys.discard(key))


def _is_dirty(key: str) -> bool:
    keys = getattr(_dirty, "keys", None)
    if not keys:
        return False
    if not transaction.get_connection().in_atomic_block:
        keys.clear()  # rolled back (no on_commit ran): nothing is pending any more
        return False
    return key in keys


def instance_get(model: type[M], pk: Any) -> M:
    """A row by primary key through L1/L2; a miss loads it from the database once (single flight).

    Inside a transaction that has invalidated this row (saved it), the database is read directly,
    so a transaction always sees its own writes. A model may define a `cacheable` property: a row
    for which it is false is read from the database every time and never stored (Task does: only
    settled tasks are cached).
    """
    key = instance_key(model, pk)
    if _is_dirty(key):
        return model._default_manager.get(pk=pk)
    c = get_cache()
    obj = c.get_or_set(key, lambda: model._default_manager.get(pk=pk), ttl=settings.AGENCY_CACHE_INSTANCE_TTL,
                       tags=[model_tag(model)], store_if=cacheable)
    c.record_access(key)
    return obj


def cacheable(obj: models.Model) -> bool:
    """Whether a row may be kept in the row cache: its model's `cacheable` property, else yes."""
    return getattr(obj, "cacheable", True)


def instances_invalidate(model: type[models.Model], pks: Iterable[Any]) -> None:
    """Drop cached rows once the surrounding transaction commits (at once outside a transaction)."""
    keys = [instance_key(model, pk) for pk in pks]
    if keys:
        cache_delete_many(keys)


__all__ = [
    "MISSING", "cache_delete", "cache_delete_many", "cache_get", "cache_get_or_set", "cache_invalidate_pattern",
    "cache_invalidate_tags", "cache_set", "get_cache", "instance_get", "instance_key", "instances_invalidate",
    "model_tag", "reset_caches",
]
