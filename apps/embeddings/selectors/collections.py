"""Reads of collections: by name through the two-level cache (every API call starts here)."""

from __future__ import annotations

from django.conf import settings
from django.db import connection

from apps.common.errors import NotFound
from apps.embeddings.caching import collection_name_key
from apps.embeddings.models import Collection, Embedding
from apps.platform.cache import cache_get, cache_set


def collection_get(*, name: str, tenant: str = "default") -> Collection:
    """A collection by name, through the two-level cache (every API call starts here: L1 saves a Redis trip).

    Every write of a collection (save, delete, the index status updates) drops the entry on commit.
    """
    key = collection_name_key(tenant, name)
    found = cache_get(key)
    if isinstance(found, Collection):
        return found
    try:
        collection = Collection.objects.get(tenant=tenant, name=name)
    except Collection.DoesNotExist:
        raise NotFound(f"collection '{name}' not found", code="collection_not_found") from None
    if not connection.in_atomic_block:  # never cache what an open transaction may still roll back
        cache_set(key, collection, ttl=settings.AGENCY_CACHE_INSTANCE_TTL)
    return collection


def collection_totals() -> tuple[int, int]:
    """How many collections and embeddings there are, for the admin dashboard's cards."""
    return Collection.objects.count(), Embedding.objects.count()
