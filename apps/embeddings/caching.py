"""The cached forms of a collection (by id, by name): their keys and their invalidation.

Every API call reads its collection by name through the two-level cache (selectors/collections.py);
every write of a collection drops both forms on commit (the services, and the signals wired in
apps.py). Below both the selectors and the services, so each imports it without a cycle.
"""

from __future__ import annotations

from apps.embeddings.models import Collection
from apps.platform.cache import cache_delete, cache_delete_many, instance_key


def collection_name_key(tenant_id: int, name: str) -> str:
    """Names are unique per tenant only, so the tenant's id is part of the key: tenant B asking for
    "docs" must never be answered with tenant A's cached "docs"."""
    return f"emb:collection:t{int(tenant_id)}:{name}"


def collection_name_invalidate(collection: Collection) -> None:
    """Drop the by-name cache entry once the surrounding transaction commits (signals call this too)."""
    cache_delete(collection_name_key(collection.tenant_id, collection.name))  # on commit, every process's L1 too


def collection_cache_invalidate(collection: Collection) -> None:
    """Drop both cached forms of a collection (by id, by name) on commit, in one Redis call.

    For writes without signals (queryset updates of the index status).
    """
    cache_delete_many([instance_key(Collection, collection.pk),
                       collection_name_key(collection.tenant_id, collection.name)])
