"""Invalidate the row cache when a cached model is saved or deleted (on commit, never before)."""

from __future__ import annotations

from django.apps import apps
from django.conf import settings
from django.db.models.signals import post_delete, post_save

from apps.cache.services import instances_invalidate


def _invalidate(sender, instance, **kwargs) -> None:
    instances_invalidate(sender, [instance.pk])


def connect() -> None:
    # The cache app's own WarmingRule is read by id through the row cache as well.
    for label in [*getattr(settings, "AGENCY_CACHED_MODELS", []), "cache.WarmingRule"]:
        try:
            model = apps.get_model(label)
        except LookupError:
            continue  # an app that has not defined the model yet
        post_save.connect(_invalidate, sender=model, dispatch_uid=f"cache-save-{label}")
        post_delete.connect(_invalidate, sender=model, dispatch_uid=f"cache-delete-{label}")
