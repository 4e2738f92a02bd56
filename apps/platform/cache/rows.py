"""The row cache: a model row by primary key through L1 → L2 → the database, invalidated on commit.

Contract used by the agents, tasks, embeddings and cache apps — keep these signatures:

* ``instance_get(model, pk)`` returns the row by primary key through the cache (single-flight on
  a miss), raising ``model.DoesNotExist`` like ``Model.objects.get``;
* ``instances_invalidate(model, pks)`` drops cached rows after a commit; services that write with
  ``QuerySet.update()`` or raw SQL (no signals) call it themselves. ``save()``/``delete()`` of a
  registered model (``register_cached_model``: the models listed in
  ``settings.AGENCY_CACHED_MODELS``, plus those an app registers in its ``ready()``) are
  invalidated by the signal receivers connected here.

The registry is also how a row key (``model:<app_label.model>:<pk>``) is turned back into its model
(`cached_model`, used by warming) without the cache app loading other apps' models by label: a
model whose rows are cached without invalidation receivers would serve stale rows, so "registered"
and "may be cached" are the same set.

Lists are NOT cached: list endpoints are filtered, ordered and paginated in many combinations, and
the cached tables (agents, tasks) change constantly, so a tag flushing every list of a model on each
row write would give a near-zero hit rate for extra Redis traffic, while PostgreSQL serves an
indexed page in about a millisecond. Row entries carry the tag ``model:<label>`` so a whole model
can still be dropped with ``cache_invalidate_tags``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any, TypeVar

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.signals import post_delete, post_save

from apps.platform.cache.api import cache_delete_many, get_cache
from apps.platform.cache.transactions import is_dirty

M = TypeVar("M", bound=models.Model)

_registry: dict[str, type[models.Model]] = {}  # label_lower → model, for the registered models


def instance_key(model: type[models.Model], pk: Any) -> str:
    """`model:<app.model>:<pk>` with the pk in canonical form ("ABC…" and UUID("abc…") share a key)."""
    with contextlib.suppress(ValidationError):  # a malformed pk: the database lookup raises the proper error
        pk = model._meta.pk.to_python(pk)
    return f"model:{model._meta.label_lower}:{pk}"


def model_tag(model: type[models.Model]) -> str:
    return f"model:{model._meta.label_lower}"


def instance_get(model: type[M], pk: Any) -> M:
    """A row by primary key through L1/L2; a miss loads it from the database once (single flight).

    Inside a transaction that has invalidated this row (saved it), the database is read directly,
    so a transaction always sees its own writes. A model may define a `cacheable` property: a row
    for which it is false is read from the database every time and never stored (Task does: only
    settled tasks are cached).
    """
    key = instance_key(model, pk)
    if is_dirty(key):
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


# ---- registered models and their invalidation receivers -----------------------------------------
def _invalidate(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
    instances_invalidate(sender, [instance.pk])


def register_cached_model(model: type[models.Model]) -> None:
    """Invalidate `model`'s cached rows on save/delete (on commit) and let warming resolve its keys.

    Idempotent (the receivers have a dispatch uid). Called from an AppConfig.ready().
    """
    label = model._meta.label_lower
    _registry[label] = model
    post_save.connect(_invalidate, sender=model, dispatch_uid=f"cache-save-{label}")
    post_delete.connect(_invalidate, sender=model, dispatch_uid=f"cache-delete-{label}")


def register_cached_models(labels: Iterable[str]) -> None:
    """`register_cached_model` for each `app_label.ModelName` that is installed (others are skipped).

    A label is resolved through Django's app registry once, at startup, from configuration
    (``settings.AGENCY_CACHED_MODELS``); no app's code is imported for it.
    """
    for label in labels:
        try:
            model = apps.get_model(label)
        except LookupError:
            continue  # an app that has not defined the model yet
        register_cached_model(model)


def cached_model(label: str) -> type[models.Model] | None:
    """The registered model of a row key's label (``agents.agent``), or None."""
    return _registry.get(label.lower())


def parse_row_key(key: str) -> tuple[type[models.Model], str] | None:
    """(model, pk text) of a row-cache key of a registered model, else None."""
    parts = key.split(":", 2)
    if len(parts) != 3 or parts[0] != "model":
        return None
    model = cached_model(parts[1])
    return None if model is None else (model, parts[2])


__all__ = [
    "cacheable", "cached_model", "instance_get", "instance_key", "instances_invalidate", "model_tag",
    "parse_row_key", "register_cached_model", "register_cached_models",
]
