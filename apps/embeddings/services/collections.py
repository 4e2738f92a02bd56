"""Collection writes: create, update (index settings trigger a rebuild), delete (drops the index).

Reads are in selectors/collections.py; the cache keys and their invalidation in caching.py.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction

from apps.common.errors import Conflict, ValidationFailed
from apps.embeddings.caching import collection_cache_invalidate
from apps.embeddings.models import Collection, Embedding, IndexStatus, IndexType
from apps.embeddings.services.indexes import collection_index_schedule, collection_indexes_drop

INDEX_FIELDS = {"index_type", "m", "ef_construction", "lists", "precision", "binary_index"}
MUTABLE_FIELDS = INDEX_FIELDS  # dimension and metric define the data: a new collection is needed


@transaction.atomic
def collection_create(*, tenant_id: int, name: str, dimension: int, metric: str = "cosine",
                      index_type: str = "hnsw", m: int = 16, ef_construction: int = 100, lists: int = 100,
                      precision: str = "vector", binary_index: bool = False) -> Collection:
    """Create a collection in tenant `tenant_id` (the caller's: request_tenant_id); its (empty, hence
    instant) index is built right after commit. Names are unique per tenant (409 otherwise)."""
    collection = Collection(
        tenant_id=tenant_id, name=name, dimension=dimension, metric=metric, index_type=index_type, m=m,
        ef_construction=ef_construction, lists=lists, precision=precision, binary_index=binary_index,
        index_status=IndexStatus.NONE if index_type == IndexType.NONE and not binary_index else IndexStatus.PENDING,
    )
    collection.full_clean(validate_unique=False, validate_constraints=False)
    try:
        with transaction.atomic():
            collection.save()
    except IntegrityError:
        raise Conflict(f"name: collection '{name}' already exists", code="collection_exists") from None
    if collection.index_status == IndexStatus.PENDING:
        collection_index_schedule(collection, sync=True)
    return collection


@transaction.atomic
def collection_update(*, collection: Collection, **changes: Any) -> Collection:
    """Change index settings; a change of anything shaping the index schedules a rebuild."""
    unknown = set(changes) - MUTABLE_FIELDS
    if unknown:
        field = sorted(unknown)[0]
        raise ValidationFailed(f"{field}: cannot be changed (create a new collection)", code="immutable")
    changed = [f for f, v in changes.items() if getattr(collection, f) != v]
    if not changed:
        return collection
    for field in changed:
        setattr(collection, field, changes[field])
    collection.full_clean(validate_unique=False, validate_constraints=False)
    collection.index_status = IndexStatus.PENDING
    collection.save(update_fields=[*changed, "index_status", "updated_at"])
    collection_index_schedule(collection)
    return collection


@transaction.atomic
def collection_delete(*, collection: Collection) -> int:
    """Delete a collection and its rows; its indexes are dropped after commit. Returns rows deleted."""
    collection_id = collection.pk
    deleted = Embedding.objects.filter(collection_id=collection_id)._raw_delete(using="default")
    collection.delete()
    transaction.on_commit(lambda: collection_indexes_drop(collection_id=collection_id))
    return deleted


def collection_index_rebuild(*, collection: Collection, sync: bool | None = None) -> None:
    """Operator action: rebuild the indexes (REINDEX CONCURRENTLY) to repair them or after bulk loads."""
    Collection.objects.filter(pk=collection.pk).update(index_status=IndexStatus.PENDING)
    collection_cache_invalidate(collection)
    collection_index_schedule(collection, sync=sync, reindex=True)
