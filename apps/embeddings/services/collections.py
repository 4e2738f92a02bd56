"""Collection writes: create, update (index settings trigger a rebuild), delete (drops the index).

Reads are in selectors/collections.py; the cache keys and their invalidation in caching.py.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone

from apps.audit.services import audit_record
from apps.common.errors import Conflict, DomainError, ServiceUnavailable, ValidationFailed
from apps.embeddings.caching import collection_cache_invalidate
from apps.embeddings.models import Collection, Embedding, IndexStatus, IndexType
from apps.embeddings.services.indexes import collection_index_build, collection_index_schedule, collection_indexes_drop
from apps.embeddings.validation import collection_index_check
from apps.tenants.quotas import quota_enforce

log = logging.getLogger(__name__)

INDEX_FIELDS = {"index_type", "m", "ef_construction", "lists", "precision", "binary_index"}
MUTABLE_FIELDS = INDEX_FIELDS  # dimension and metric define the data: a new collection is needed
# SQLSTATE classes of a build PostgreSQL refused for its parameters (a 400): data exception (22,
# e.g. pgvector's invalid parameter value), program limit exceeded (54: dimensions, memory for
# the lists), feature not supported (0A). Anything else (disk, connection) is a 503.
_REFUSED_CLASSES = ("22", "54", "0A")


def _build_refused(exc: DatabaseError, outcome: str) -> DomainError:
    """The 4xx/5xx of an inline index build that failed after commit, with pgvector's reason."""
    reason = str(exc).strip()
    sqlstate = getattr(exc.__cause__, "sqlstate", None) or ""
    details = {"field": "index", "reason": reason}
    if sqlstate[:2] in _REFUSED_CLASSES:
        return ValidationFailed(f"index: PostgreSQL refused to build it ({reason}); {outcome}",
                                code="index_refused", details=details)
    return ServiceUnavailable(f"index: the build failed ({reason}); {outcome}", code="index_build_failed",
                              details=details)


def _build_or_remove(*, collection_id: str) -> Collection | None:
    """The first build of a new collection (inline, after commit); if it fails the collection is
    deleted again, so a refused create leaves nothing behind and a retry does not meet a 409."""
    try:
        return collection_index_build(collection_id=collection_id)
    except DatabaseError as exc:
        collection = Collection.objects.filter(pk=collection_id).first()
        if collection is not None:
            collection_delete(collection=collection)
        raise _build_refused(exc, "the collection was not created") from exc


def _build_or_restore(*, collection_id: str, previous: dict[str, Any]) -> Collection | None:
    """The rebuild after an update (inline, after commit); if it fails the `previous` settings come
    back and their index is made current again (a build drops the index it replaces only after it
    succeeded, so the old one is still there; this also drops what the failed build left)."""
    try:
        return collection_index_build(collection_id=collection_id)
    except DatabaseError as exc:
        Collection.objects.filter(pk=collection_id).update(**previous, updated_at=timezone.now())
        try:
            collection_index_build(collection_id=collection_id)
        except DatabaseError:  # the old settings no longer build either: FAILED, with the reason
            log.exception("restoring the index of collection %s failed", collection_id)
        raise _build_refused(exc, "the collection keeps its previous index settings") from exc


@transaction.atomic
def collection_create(*, tenant_id: int, name: str, dimension: int, metric: str = "cosine",
                      index_type: str = "hnsw", m: int = 16, ef_construction: int = 100, lists: int = 100,
                      precision: str = "vector", binary_index: bool = False) -> Collection:
    """Create a collection in tenant `tenant_id` (the caller's: request_tenant_id); its (empty, hence
    instant) index is built right after commit. Names are unique per tenant (409 otherwise); the
    tenant's `max_collections` quota is a 403 (apps.tenants.quotas)."""
    collection = Collection(
        tenant_id=tenant_id, name=name, dimension=dimension, metric=metric, index_type=index_type, m=m,
        ef_construction=ef_construction, lists=lists, precision=precision, binary_index=binary_index,
        index_status=IndexStatus.NONE if index_type == IndexType.NONE and not binary_index else IndexStatus.PENDING,
    )
    collection.full_clean(validate_unique=False, validate_constraints=False)
    collection_index_check(collection)  # what pgvector would refuse after commit: a 400 now, nothing written
    # max_collections (403); the count is served by the unique (tenant_id, name) index
    quota_enforce(tenant_id=tenant_id, quota="max_collections",
                  usage=lambda: Collection.objects.filter(tenant_id=tenant_id).count())
    try:
        with transaction.atomic():
            collection.save()
    except IntegrityError:
        raise Conflict(f"name: collection '{name}' already exists", code="collection_exists") from None
    audit_record(action="collection.create", target=collection,
                 data={"dimension": dimension, "metric": metric, "index_type": index_type, "precision": precision})
    if collection.index_status == IndexStatus.PENDING:
        collection_index_schedule(collection, sync=True, inline_build=_build_or_remove)
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
    diff = {f: [getattr(collection, f), changes[f]] for f in changed}
    previous = {f: getattr(collection, f) for f in changed}
    for field in changed:
        setattr(collection, field, changes[field])
    collection.full_clean(validate_unique=False, validate_constraints=False)
    collection_index_check(collection)
    collection.index_status = IndexStatus.PENDING
    collection.save(update_fields=[*changed, "index_status", "updated_at"])
    audit_record(action="collection.update", target=collection, data={"changes": diff})
    collection_index_schedule(collection, inline_build=functools.partial(_build_or_restore, previous=previous))
    return collection


@transaction.atomic
def collection_delete(*, collection: Collection) -> int:
    """Delete a collection and its rows; its indexes are dropped after commit. Returns rows deleted."""
    collection_id = collection.pk
    deleted = Embedding.objects.filter(collection_id=collection_id)._raw_delete(using="default")
    audit_record(action="collection.delete", target=collection, data={"embeddings_deleted": deleted})
    collection.delete()
    transaction.on_commit(lambda: collection_indexes_drop(collection_id=collection_id))
    return deleted


def collection_index_rebuild(*, collection: Collection, sync: bool | None = None) -> None:
    """Operator action: rebuild the indexes (REINDEX CONCURRENTLY) to repair them or after bulk loads."""
    Collection.objects.filter(pk=collection.pk).update(index_status=IndexStatus.PENDING)
    audit_record(action="collection.rebuild_index", target=collection)
    collection_cache_invalidate(collection)
    collection_index_schedule(collection, sync=sync, reindex=True)
