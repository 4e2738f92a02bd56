"""Ingest: validate a whole batch first, then binary COPY into a staging table and one upsert.

The API, the import command and the benchmark all go through `_copy_upsert`: binary COPY of the
batch into a session-local temp table (`ON COMMIT DELETE ROWS`), then
`INSERT … SELECT … ON CONFLICT (collection_id, entity_type, entity_id) DO UPDATE`, counting
inserted rows with `xmax = 0`. Rows whose vector, content and metadata are unchanged are not
rewritten (no dead tuple, no new index entry) and are reported as `unchanged`.

Fresh rows (the bulk-load case) take a faster path: when none of a spread sample of the batch's
keys exists yet, the batch is COPYed straight into the table (all "inserted"); a key that does
exist (outside the sample, or written concurrently) is caught by the unique index, that attempt
is rolled back to its savepoint, and the batch goes the staging way. Either way the binary COPY
stream is built by apps.platform.db.copy (each column encoded at once, streamed in chunks), not
field by field through psycopg's dumpers. Items are checked first, whole, by
apps.embeddings.validation; deletes are in services/deletion.py.

**Bulk loads skip pgvector's per-row HNSW insert** (`bulk_load_wanted`). Into a collection with a
live HNSW index, every new row is inserted into the graph one by one: measured here, raw binary
COPY of 384-d rows into a table with a live HNSW index (m=16, ef_construction=100) ran at ~400
rows/s, against ~74,000 rows/s with no vector index, and building the index afterwards took
~0.15-0.3 ms a row (30K rows in 4.5-9 s): maintaining the graph costs ~10-17x building it once.
So a batch of at least AGENCY_EMBEDDINGS_BULK_MIN_ROWS rows that is at least
AGENCY_EMBEDDINGS_BULK_FRACTION of the rows already there (then the one rebuild, over old and new
rows, costs less than half the per-row inserts it replaces) *defers* the index
(services/indexes.py `collection_index_defer`: DEFERRED committed first, then DROP INDEX
CONCURRENTLY), loads without it, and rebuilds it CONCURRENTLY once: at the end of
`embeddings_import` (in this process up to AGENCY_EMBEDDINGS_SYNC_BUILD_ROWS rows, else Celery),
or for API batches once they stop arriving (`collection_index_build_settled`, Celery). A batch
into a collection already DEFERRED goes in the same way, whatever its size. Small batches, IVFFlat
and index-less collections, and calls inside a transaction (the drop would need an ACCESS
EXCLUSIVE lock on the shared table until commit) keep the per-row path.

Trade-off: while the index is deferred (the load, the settle time, the build), every search of the
collection is **exact over the whole collection**: recall 1, never fewer or wrong rows, at an
exact scan's cost (~17 ms for 30K x 384 here) instead of an index scan's (~1 ms).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from django.conf import settings
from django.db import IntegrityError, connection, transaction

from apps.audit.services import audit_record
from apps.common.errors import PayloadTooLarge, ValidationFailed
from apps.embeddings.models import Collection, IndexStatus, IndexType
from apps.embeddings.services.indexes import (
    collection_index_defer,
    collection_index_schedule,
    collection_index_written,
)
from apps.embeddings.validation import Batch, embeddings_validate
from apps.platform.db.copy import (
    copy_binary,
    copy_stream,
    jsonb_column,
    random_uuid4_column,
    text_column,
    timestamptz_value,
    uuid_value,
    vector_column,
)
from apps.platform.db.tenancy import as_owner
from apps.platform.db.vectors import vector_cursor
from apps.tenants.quotas import quota_enforce, quota_limit


@dataclass
class UpsertResult:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    def __iadd__(self, other: UpsertResult) -> UpsertResult:
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged
        return self

    def as_dict(self) -> dict[str, int]:
        return {"inserted": self.inserted, "updated": self.updated, "unchanged": self.unchanged}


_STAGING = ("CREATE TEMP TABLE IF NOT EXISTS emb_staging "
            "(entity_type text, entity_id text, vector vector, content text, metadata jsonb) ON COMMIT DELETE ROWS")
_UPSERT = """
WITH up AS (
  INSERT INTO embeddings_embedding
    (id, collection_id, entity_type, entity_id, vector, content, metadata, created_at, updated_at)
  SELECT gen_random_uuid(), %s, entity_type, entity_id, vector, content, metadata, now(), now() FROM emb_staging
  ON CONFLICT (collection_id, entity_type, entity_id) DO UPDATE
    SET vector = EXCLUDED.vector, content = EXCLUDED.content, metadata = EXCLUDED.metadata,
        updated_at = EXCLUDED.updated_at
    WHERE (embeddings_embedding.vector, embeddings_embedding.content, embeddings_embedding.metadata)
          IS DISTINCT FROM (EXCLUDED.vector, EXCLUDED.content, EXCLUDED.metadata)
  RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM up
"""


_COLUMNS = ["id", "collection_id", "entity_type", "entity_id", "vector", "content", "metadata", "created_at",
            "updated_at"]
_STAGING_COLUMNS = ["entity_type", "entity_id", "vector", "content", "metadata"]


def batch_copy_stream(batch: Batch, *, collection_id: uuid.UUID | None, now: datetime,
                      chunk_rows: int = 256) -> Iterator[bytes]:
    """The batch as a binary COPY stream, in chunks of `chunk_rows` rows.

    With `collection_id`: rows for embeddings_embedding (_COLUMNS, new random UUIDs, `now` as both
    timestamps); without: rows for emb_staging (_STAGING_COLUMNS).
    """
    columns = [text_column(batch.entity_types), text_column(batch.entity_ids), vector_column(batch.vectors),
               text_column(batch.contents), jsonb_column(batch.metadatas)]
    if collection_id is not None:
        stamp = timestamptz_value(now)
        columns = [random_uuid4_column(len(batch)), uuid_value(collection_id), *columns, stamp, stamp]
    return copy_stream(columns, len(batch), chunk_rows=chunk_rows)



_PROBE_KEYS = 16


def _any_exists(cur, collection: Collection, batch: Batch) -> bool:
    """Whether some of the batch's keys (a spread sample of them) exist already.

    Only a guess at which path is faster, so a sample: the unique index is what keeps the direct
    COPY right, and a collision there costs one rolled-back attempt. Probing every key of a
    1,000-row batch took 3-10 ms of a request that writes in about 30.
    """
    step = max(1, len(batch) // _PROBE_KEYS)
    # One unique-index probe per key (a scalar subquery is never turned into a join): as a join,
    # a collection whose statistics say it is empty was hashed whole, every batch (measured: the
    # probe grew by 1 ms per 1,000 rows loaded).
    cur.execute(
        "SELECT EXISTS (SELECT 1 FROM unnest(%s::text[], %s::text[]) k(t, i) WHERE (SELECT true FROM "
        "embeddings_embedding e WHERE e.collection_id = %s AND e.entity_type = k.t AND e.entity_id = k.i))",
        [batch.entity_types[::step], batch.entity_ids[::step], collection.pk],
    )
    return cur.fetchone()[0]


def _copy_direct(cur, collection: Collection, batch: Batch) -> bool:
    """COPY fresh rows straight into the table; False (and nothing written) on a key collision."""
    try:
        # COPY FROM is refused for a role under row-level security: the owner loads the rows, into a
        # collection the caller's tenant owns (the service got it through the tenant's scope).
        with transaction.atomic(), as_owner():  # a savepoint: a collision rolls back only this attempt
            copy_binary(cur, "embeddings_embedding", _COLUMNS,
                        batch_copy_stream(batch, collection_id=collection.pk, now=datetime.now(UTC)))
    except (IntegrityError, psycopg.errors.UniqueViolation):
        return False
    return True


def _copy_upsert(collection: Collection, batch: Batch) -> UpsertResult:
    if not len(batch):
        return UpsertResult()
    with vector_cursor() as cur:
        if not _any_exists(cur, collection, batch) and _copy_direct(cur, collection, batch):
            return UpsertResult(inserted=len(batch))
        cur.execute(_STAGING)
        cur.execute("TRUNCATE emb_staging")
        copy_binary(cur, "emb_staging", _STAGING_COLUMNS,
                    batch_copy_stream(batch, collection_id=None, now=datetime.now(UTC)))
        cur.execute(_UPSERT, [collection.pk])
        inserted, updated = cur.fetchone()
        cur.execute("TRUNCATE emb_staging")
    return UpsertResult(inserted, updated, len(batch) - inserted - updated)


def bulk_load_wanted(*, collection: Collection, status: str, rows: int, existing: int) -> bool:
    """Whether loading `rows` rows into a collection of `existing` rows should defer its index.

    Pure (see the module docstring for the measurements): an HNSW index (main or binary) that is
    READY, and rows >= AGENCY_EMBEDDINGS_BULK_MIN_ROWS and rows >= AGENCY_EMBEDDINGS_BULK_FRACTION
    x existing; or the index already DEFERRED by an earlier batch (there is nothing to maintain).
    """
    if status == IndexStatus.DEFERRED:
        return True
    if status != IndexStatus.READY or not (collection.index_type == IndexType.HNSW or collection.binary_index):
        return False
    fraction = settings.AGENCY_EMBEDDINGS_BULK_FRACTION
    return rows >= settings.AGENCY_EMBEDDINGS_BULK_MIN_ROWS and rows >= fraction * existing


def _existing_rows(collection: Collection, limit: int) -> int:
    """The collection's rows, counted up to `limit` (the unique index's prefix serves it)."""
    with connection.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM (SELECT 1 FROM embeddings_embedding WHERE {collection.predicate} "
                    f"LIMIT {int(limit)}) s")
        return cur.fetchone()[0]


def _defer_index_for(collection: Collection, rows: int, existing: int | None = None) -> bool:
    """Defer the collection's index for a load of `rows` rows if `bulk_load_wanted`; whether it is deferred.

    The status is read from the database, not from the (possibly cached) instance: another process
    may have deferred or rebuilt the index since.
    """
    if connection.in_atomic_block or rows <= 0:
        return False
    status = Collection.objects.filter(pk=collection.pk).values_list("index_status", flat=True).first()
    if status is None:
        return False
    if existing is None and status == IndexStatus.READY:
        existing = _existing_rows(collection, math.ceil(rows / settings.AGENCY_EMBEDDINGS_BULK_FRACTION) + 1)
    if not bulk_load_wanted(collection=collection, status=status, rows=rows, existing=existing or 0):
        return False
    if status != IndexStatus.DEFERRED:
        collection_index_defer(collection=collection)
    else:
        collection.index_status = IndexStatus.DEFERRED
    return True


# One range of the unique (collection_id, …) index per collection of the tenant.
_TENANT_ROWS = ("SELECT coalesce(sum((SELECT count(*) FROM embeddings_embedding e WHERE e.collection_id = c.id)), "
                "0)::bigint FROM embeddings_collection c WHERE c.tenant_id = %s")
# One unique-index probe per key (a scalar subquery, never a join: see `_any_exists`).
_NEW_KEYS = ("SELECT count(*) FROM unnest(%s::text[], %s::text[]) k(t, i) WHERE (SELECT true FROM "
             "embeddings_embedding e WHERE e.collection_id = %s AND e.entity_type = k.t AND e.entity_id = k.i) IS NULL")


def _count(sql: str, params: list[Any]) -> int:
    with connection.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchone()[0]


def _embeddings_quota(collection: Collection, batch: Batch) -> None:
    """The tenant's `max_embeddings` (403 naming it, apps.tenants.quotas): rows stored + the batch's new keys.

    No query when the tenant has no such quota. Otherwise (inside the writing transaction, under
    the quota's lock): one count of the tenant's embeddings, by the unique (collection_id,
    entity_type, entity_id) index of each of its collections. It grows with the tenant's rows:
    measured here (2 busy cores, RLS on), 90-180 ms for 100,000 rows in 10 collections, about
    1 ms per 1,000 rows, whether as the owner or under the tenant's scope; a 1,000-row batch into
    that tenant went from ~260 to ~400 ms. And only when the batch's size would cross the limit,
    one unique-index probe per key to count the keys that are new (an upsert of rows already
    stored adds nothing). A tenant with millions of rows and a quota would want a maintained
    counter instead; none is kept, so no write path can make it drift.
    """
    tenant_id = collection.tenant_id
    quota_enforce(tenant_id=tenant_id, quota="max_embeddings", adding=len(batch),
                  usage=lambda: _count(_TENANT_ROWS, [tenant_id]),
                  adding_exact=lambda: _count(_NEW_KEYS, [batch.entity_types, batch.entity_ids, collection.pk]))


def embeddings_upsert(*, collection: Collection, items: Any, max_items: int | None = None) -> UpsertResult:
    """Validate the whole batch, then upsert it in one transaction: all items or none.

    A bulk batch (`bulk_load_wanted`) goes in with the collection's index deferred, and schedules
    the rebuild for when the batches stop (services/indexes.py `collection_index_build_settled`).
    A batch that would take the tenant past `max_embeddings` is refused whole (403).
    """
    if max_items is not None and isinstance(items, list) and len(items) > max_items:
        raise PayloadTooLarge(f"items: at most {max_items} items per request, got {len(items)}",
                              code="batch_too_large")
    batch = embeddings_validate(collection=collection, items=items)
    if (len(batch) >= settings.AGENCY_EMBEDDINGS_BULK_MIN_ROWS and not connection.in_atomic_block
            and quota_limit(tenant_id=collection.tenant_id, quota="max_embeddings") is not None):
        with transaction.atomic():  # a batch that may defer the index (a write) is refused before it
            _embeddings_quota(collection, batch)
    deferred = _defer_index_for(collection, len(batch))
    with transaction.atomic():
        _embeddings_quota(collection, batch)
        result = _copy_upsert(collection, batch)
        # one entry for the batch, in its transaction: one INSERT whatever the batch's size
        audit_record(action="embeddings.ingest", target=collection, data={"items": len(batch), **result.as_dict()})
    if deferred:
        collection_index_written(collection=collection)
    return result


def embeddings_import(*, collection: Collection, items: Iterable[dict], chunk_size: int = 5000,
                      progress: Callable[[int], None] | None = None,
                      build_inline: bool | None = None) -> UpsertResult:
    """Large loads: validated chunks, each committed on its own (re-running is idempotent).

    Items are dicts like the API's, and `vector` may be a numpy row. A bad chunk raises
    ValidationFailed naming the item's position in the whole stream; earlier chunks stay committed.
    Once the rows loaded so far make a bulk load (`bulk_load_wanted`, against the rows there at
    the start), the rest goes in with the index deferred, and the index is rebuilt at the end:
    here if `build_inline` (default: up to AGENCY_EMBEDDINGS_SYNC_BUILD_ROWS rows), else by Celery.
    A failed chunk leaves the index deferred and its rebuild scheduled all the same. The tenant's
    `max_embeddings` is checked per chunk: the chunk that would cross it is refused whole (403).
    """
    total = UpsertResult()
    chunk: list[dict] = []
    done = 0
    deferred = False
    existing: int | None = None

    def flush() -> None:
        nonlocal done, deferred, existing
        if not deferred and not connection.in_atomic_block:
            if existing is None:
                existing = _existing_rows(collection, 10**12)
            deferred = _defer_index_for(collection, done + len(chunk), existing)
        try:
            batch = embeddings_validate(collection=collection, items=chunk)
        except ValidationFailed as exc:
            # re-anchor item indexes to the stream position
            message = exc.message.replace("items[", "item #", 1)
            raise ValidationFailed(f"{message} (in the chunk starting at item {done})",
                                   code=exc.code, details=exc.details) from None
        with transaction.atomic():
            _embeddings_quota(collection, batch)
            counts = _copy_upsert(collection, batch)
            total.__iadd__(counts)
            audit_record(action="embeddings.import", target=collection,  # one entry per committed chunk
                         data={"items": len(batch), "offset": done, **counts.as_dict()})
        done += len(chunk)
        if progress:
            progress(len(chunk))
        chunk.clear()

    try:
        for item in items:
            chunk.append(item)
            if len(chunk) >= chunk_size:
                flush()
        if chunk:
            flush()
    finally:
        if deferred:
            collection_index_schedule(collection, sync=build_inline)
            collection.refresh_from_db(fields=["index_status", "index_error", "index_built_at", "index_deferred_at",
                                               "updated_at"])
    return total
