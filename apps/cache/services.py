"""The cache service API the other apps use. (Grows into the two-level cache of the cache issue.)

Contract used by agents, tasks and embeddings selectors — keep these signatures:

* ``instance_get(model, pk)`` returns the row by primary key through the cache, raising
  ``model.DoesNotExist`` like ``Model.objects.get``;
* ``instances_invalidate(model, pks)`` drops cached rows after a commit; services that write with
  ``QuerySet.update()`` or raw SQL (no signals) call it themselves. ``save()``/``delete()`` of a
  model listed in ``settings.AGENCY_CACHED_MODELS`` are invalidated by signal receivers.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from django.core.cache import cache
from django.db import models, transaction

M = TypeVar("M", bound=models.Model)

_MISSING = object()


def instance_key(model: type[models.Model], pk: Any) -> str:
    return f"model:{model._meta.label_lower}:{pk}"


def instance_get(model: type[M], pk: Any) -> M:
    """A row by primary key, from the cache when present; a miss loads from the database."""
    key = instance_key(model, pk)
    found = cache.get(key, _MISSING)
    if found is not _MISSING and found is not None:
        return found
    obj = model._default_manager.get(pk=pk)
    cache.set(key, obj)
    return obj


def instances_invalidate(model: type[models.Model], pks: Iterable[Any]) -> None:
    """Drop cached rows once the surrounding transaction commits (at once outside a transaction)."""
    keys = [instance_key(model, pk) for pk in pks]
    if keys:
        transaction.on_commit(lambda: cache.delete_many(keys))
