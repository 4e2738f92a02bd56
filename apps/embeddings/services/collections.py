"""Collection writes: create, update (index settings trigger a rebuild), delete (drops the index)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction

from apps.cache.services import cache_delete, cache_delete_many, cache_get, cache_set, instance_key
from apps.common.errors import Conflict, NotFound
from apps.embeddings.models import Collection, Embedding, IndexStatus, IndexType
from apps.embeddings.services.indexes import collection_index_build, collection_indexes_drop

INDEX_FIELDS = {"index_type", "m", "ef_construction", "lists", "precision", "binary_index"}
MUTABLE_FIELDS = INDEX_FIELDS  # dimension and metric define the data: a new collection is needed


def collection_name_key(tenant: str, name: str) -> str:
    return f"emb:collection:{tenant}:{name}"


def collection_name_invalidate(collection: Collection) -> None:
    """Drop the by-name cache entry once the surrounding transaction commits (signals call this too)."""
    cache_delete(collection_name_key(collection.tenant, collection.name))  # on commit, every process's L1 too


def collection_cache_invalidate(collection: Collection) -> None:
    """Drop both cached forms of a collection (by id, by name) on commit, in one Redis call.

    For writes without signals (queryset updates of the index status).
    """
    cache_delete_many([instance_key(Collection, collection.pk),
                       collection_name_key(collection.tenant, collection.name)])


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


def _schedule_index_build(collection: Collection, *, sync: bool | None = None) -> None:
    """Build after commit: in the request for small collections, else in a Celery task."""
    from apps.embeddings.tasks import collection_index_build_task

    if sync is None:
        sync = Embedding.objects.filter(collection=collection).count() <= settings.AGENCY_EMBEDDINGS_SYNC_BUILD_ROWS
    if sync:
        transaction.on_commit(lambda: collection_index_build(collection_id=collection.pk))
    else:
        collection_index_build_task.delay_on_commit(str(collection.pk))


@transaction.atomic
def collection_create(*, name: str, dimension: int, tenant: str = "default", metric: str = "cosine",
                      index_type: str = "hnsw", m: int = 16, ef_construction: int = 100, lists: int = 100,
                      precision: str = "vector", binary_index: bool = False) -> Collection:
    """Create a collection; its (empty, hence instant) index is built right after commit."""
    collection = Collection(
        tenant=tenant, name=name, dimension=dimension, metric=metric, index_type=index_type, m=m,
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
        _schedule_index_build(collection, sync=True)
    return collection


@transaction.atomic
def collection_update(*, collection: Collection, **changes: Any) -> Collection:
    """Change index settings; a change of anything shaping the index schedules a rebuild."""
    unknown = set(changes) - MUTABLE_FIELDS
    if unknown:
        from apps.common.errors import ValidationFailed

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
    _schedule_index_build(collection)
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
    from apps.embeddings.tasks import collection_index_build_task

    Collection.objects.filter(pk=collection.pk).update(index_status=IndexStatus.PENDING)
    collection_cache_invalidate(collection)
    if sync is None:
        sync = Embedding.objects.filter(collection=collection).count() <= settings.AGENCY_EMBEDDINGS_SYNC_BUILD_ROWS
    if sync:
        transaction.on_commit(lambda: collection_index_build(collection_id=collection.pk, reindex=True))
    else:
        collection_index_build_task.delay_on_commit(str(collection.pk), reindex=True)
