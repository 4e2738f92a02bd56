"""Per-collection partial expression indexes: build, drop, rebuild, ANALYZE, size and usage report.

Each collection gets `CREATE INDEX CONCURRENTLY emb_<collection hex>_<params hash> ON
embeddings_embedding USING hnsw ((vector::vector(768)) vector_cosine_ops) WITH (...) WHERE
collection_id = '<uuid>'`. The name carries a hash of the index parameters, so a parameter change
builds the new index next to the old one (searches keep working) and then drops the old one.
CONCURRENTLY cannot run inside a transaction: inside one (tests, admin actions in atomic
requests) the build falls back to a plain CREATE INDEX.

A bulk load (services/ingest.py) may *defer* the index: `collection_index_defer` marks the
collection DEFERRED (committed first, so every search plans exact from then on) and drops its
indexes CONCURRENTLY; the rows then go in without pgvector's per-row HNSW insert, and the index is
built once afterwards (`collection_index_schedule` at the end of an import; for a stream of API
batches, `collection_index_build_settled` once no batch has arrived for
AGENCY_EMBEDDINGS_BULK_SETTLE_SECONDS, or AGENCY_EMBEDDINGS_BULK_MAX_DEFER_SECONDS after the drop).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from apps.embeddings.caching import collection_cache_invalidate
from apps.embeddings.models import METRIC_SQL, Collection, Embedding, IndexStatus, IndexType
from apps.platform.db.tenancy import as_owner
from apps.platform.jobs import enqueue_on_commit, run_inline_or_enqueue

log = logging.getLogger(__name__)

TABLE = "embeddings_embedding"
# The Celery task wrapping collection_index_build (tasks.py registers it under this name): services
# enqueue it by name (apps.platform.jobs), so no services module imports the tasks module.
BUILD_TASK = "agency.embeddings.build_index"
BUILD_QUEUE = "maintenance"
# The task wrapping collection_index_build_settled (the rebuild after a stream of bulk batches).
SETTLED_BUILD_TASK = "agency.embeddings.build_index_settled"


def _concurrently(requested: bool | None) -> str:
    if requested is None:
        requested = not connection.in_atomic_block
    return "CONCURRENTLY " if requested else ""


def _set_status(collection: Collection, status: str, error: str = "") -> None:
    fields: dict[str, Any] = {"index_status": status, "index_error": error[:2000]}
    if status == IndexStatus.READY:
        fields["index_built_at"] = timezone.now()
        fields["index_deferred_at"] = None
    Collection.objects.filter(pk=collection.pk).update(**fields)
    for key, value in fields.items():
        setattr(collection, key, value)
    collection_cache_invalidate(collection)


def index_ddl(collection: Collection, *, concurrently: bool = True) -> str:
    """The CREATE INDEX statement of a collection's main index ('' for index none)."""
    if collection.index_type == IndexType.NONE:
        return ""
    ops = f"{collection.precision}_{METRIC_SQL[collection.metric][1]}"
    if collection.index_type == IndexType.HNSW:
        with_ = f"m = {int(collection.m)}, ef_construction = {int(collection.ef_construction)}"
    else:
        with_ = f"lists = {int(collection.lists)}"
    conc = "CONCURRENTLY " if concurrently else ""
    return (f"CREATE INDEX {conc}IF NOT EXISTS {collection.index_name} ON {TABLE} "
            f"USING {collection.index_type} ({collection.index_cast} {ops}) WITH ({with_}) "
            f"WHERE {collection.predicate}")


def binary_index_ddl(collection: Collection, *, concurrently: bool = True) -> str:
    conc = "CONCURRENTLY " if concurrently else ""
    return (f"CREATE INDEX {conc}IF NOT EXISTS {collection.binary_index_name} ON {TABLE} "
            f"USING hnsw ({collection.binary_expr} bit_hamming_ops) "
            f"WHERE {collection.predicate}")


def _existing(prefix: str) -> dict[str, bool]:
    """Index name -> valid, for the collection's indexes (names starting with prefix)."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = %s::regclass AND c.relname LIKE %s",
            [TABLE, prefix.replace("_", r"\_") + "%"],
        )
        return dict(cur.fetchall())


def _drop(name: str, *, concurrently: bool | None = None) -> None:
    with connection.cursor() as cur:
        cur.execute(f"DROP INDEX {_concurrently(concurrently)}IF EXISTS {name}")


@as_owner()  # DDL: only the tables' owner may (apps/platform/db/tenancy.py)
def collection_index_build(*, collection_id: UUID | str, concurrently: bool | None = None,
                           reindex: bool = False) -> Collection | None:
    """Build (or rebuild after a parameter change) the collection's index; idempotent.

    Returns None when the collection no longer exists (a task may run after its deletion).
    """
    try:
        collection = Collection.objects.get(pk=collection_id)
    except Collection.DoesNotExist:
        return None
    conc = _concurrently(concurrently) != ""
    wanted = set()
    statements = []
    if collection.index_type != IndexType.NONE:
        wanted.add(collection.index_name)
        statements.append((collection.index_name, index_ddl(collection, concurrently=conc)))
    if collection.binary_index:
        wanted.add(collection.binary_index_name)
        statements.append((collection.binary_index_name, binary_index_ddl(collection, concurrently=conc)))
    existing = {**_existing(collection.index_prefix + "_"), **_existing(collection.binary_index_name)}
    _set_status(collection, IndexStatus.BUILDING if statements else IndexStatus.NONE)
    # Inside a transaction the DDL runs in a savepoint, so that a refused build leaves the
    # transaction usable for recording the failure (and for the caller's undo).
    savepoint = transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext()
    try:
        with savepoint, connection.cursor() as cur:
            if connection.in_atomic_block:
                # Rows written earlier in this transaction have deferred FK checks pending, and
                # PostgreSQL refuses to index a table with pending trigger events: run them now.
                cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
            else:
                cur.execute("SELECT set_config('maintenance_work_mem', %s, false)",
                            [settings.AGENCY_EMBEDDINGS_BUILD_MEMORY])
            try:
                for name, ddl in statements:
                    if name in existing and not existing[name]:
                        _drop(name, concurrently=conc)  # an INVALID left by an interrupted CONCURRENTLY build
                    elif name in existing and reindex:
                        cur.execute(f"REINDEX INDEX {'CONCURRENTLY ' if conc else ''}{name}")
                        continue
                    cur.execute(ddl)
            finally:
                if not connection.in_atomic_block:  # autocommit: the session setting must not outlive the build
                    cur.execute("RESET maintenance_work_mem")
    except Exception as exc:
        log.exception("index build failed for collection %s", collection.pk)
        _set_status(collection, IndexStatus.FAILED, str(exc))
        raise
    for name in existing:
        if name not in wanted:
            _drop(name, concurrently=conc)
    _set_status(collection, IndexStatus.READY if statements else IndexStatus.NONE)
    return collection


@as_owner()  # DDL: only the tables' owner may (apps/platform/db/tenancy.py)
def collection_indexes_drop(*, collection_id: UUID | str, concurrently: bool | None = None) -> list[str]:
    """Drop every index of a collection (after the collection is gone, or for index none)."""
    hex_id = UUID(str(collection_id)).hex
    names = [*_existing(f"emb_{hex_id}_"), *_existing(f"embq_{hex_id}")]
    for name in names:
        _drop(name, concurrently=concurrently)
    return names


@as_owner()  # DDL: only the tables' owner may (apps/platform/db/tenancy.py)
def embeddings_analyze() -> None:
    """ANALYZE the embeddings table (after large loads; beat runs it too)."""
    with connection.cursor() as cur:
        cur.execute(f"ANALYZE {TABLE}")


def index_report(*, collection: Collection | None = None) -> list[dict[str, Any]]:
    """Size and usage of the collection indexes (pg_relation_size, pg_stat_user_indexes)."""
    like = f"%{collection.id.hex}%" if collection else "emb%"
    with connection.cursor() as cur:
        cur.execute(
            "SELECT s.indexrelname, pg_relation_size(s.indexrelid), s.idx_scan, s.idx_tup_read, i.indisvalid "
            "FROM pg_stat_user_indexes s JOIN pg_index i ON i.indexrelid = s.indexrelid "
            "WHERE s.relname = %s AND s.indexrelname LIKE %s ORDER BY s.indexrelname",
            [TABLE, like],
        )
        rows = cur.fetchall()
    by_hex = {c.id.hex: c for c in ([collection] if collection else Collection.objects.all())}
    out = []
    for name, size, scans, tuples, valid in rows:
        hex_id = name.split("_")[1] if name.count("_") >= 1 else ""
        owner = by_hex.get(hex_id)
        out.append({
            "index": name,
            "collection": str(owner) if owner else None,
            "kind": "binary" if name.startswith("embq_") else ("shared" if owner is None else "main"),
            "size_bytes": size,
            "scans": scans,
            "tuples_read": tuples,
            "valid": valid,
        })
    return out


def collection_index_schedule(collection: Collection, *, sync: bool | None = None, reindex: bool = False,
                              inline_build: Callable[..., Any] | None = None) -> None:
    """Build after commit: in this process for small collections, else in a Celery task (by name).

    `inline_build` (same arguments as collection_index_build) runs instead of it when the build is
    inline: the request's own failure handling (services/collections.py undoes a refused create or
    update and answers 4xx). A task's build records a failure in the collection's status only.
    """
    if sync is None:
        sync = Embedding.objects.filter(collection=collection).count() <= settings.AGENCY_EMBEDDINGS_SYNC_BUILD_ROWS
    kwargs: dict[str, Any] = {"collection_id": str(collection.pk)}
    if reindex:
        kwargs["reindex"] = True
    run_inline_or_enqueue(inline=sync, run=inline_build or collection_index_build, name=BUILD_TASK, kwargs=kwargs,
                          queue=BUILD_QUEUE)


def collection_index_defer(*, collection: Collection) -> None:
    """Mark the collection DEFERRED, then drop its indexes, for a bulk load (outside a transaction only).

    The status commits before the drop, so a search planned from then on is exact over the whole
    collection; one planned earlier (or from a stale cached copy) still runs correctly, because
    its SQL orders by the distance and PostgreSQL, without the index, computes and sorts every
    row's. Outside a transaction so the drop is CONCURRENTLY: a plain DROP INDEX would hold an
    ACCESS EXCLUSIVE lock on the table that every collection shares until the load committed.
    """
    if connection.in_atomic_block:
        raise RuntimeError("collection_index_defer runs outside a transaction (it drops indexes CONCURRENTLY)")
    now = timezone.now()
    Collection.objects.filter(pk=collection.pk).update(index_status=IndexStatus.DEFERRED, index_deferred_at=now,
                                                       updated_at=now)
    collection.index_status, collection.index_deferred_at, collection.updated_at = IndexStatus.DEFERRED, now, now
    collection_cache_invalidate(collection)
    collection_indexes_drop(collection_id=collection.pk, concurrently=True)


def collection_index_written(*, collection: Collection) -> str | None:
    """Record a load into a DEFERRED collection and schedule the settled rebuild; the write's stamp.

    The stamp (the collection's new `updated_at`) lets the rebuild task tell whether a later batch
    has come since (it then leaves the rebuild to that batch's task). None if no longer deferred.
    """
    now = timezone.now()
    if not Collection.objects.filter(pk=collection.pk, index_status=IndexStatus.DEFERRED).update(updated_at=now):
        return None
    collection.updated_at = now
    stamp = now.isoformat()
    enqueue_on_commit(SETTLED_BUILD_TASK, kwargs={"collection_id": str(collection.pk), "written_at": stamp},
                      queue=BUILD_QUEUE)
    return stamp


def collection_index_build_settled(*, collection_id: UUID | str, written_at: str) -> tuple[str, float]:
    """Rebuild a DEFERRED collection's index once its loads have settled: (outcome, seconds to wait).

    Outcomes: "gone" (collection deleted), "done" (no longer deferred: built or changed meanwhile),
    "superseded" (a later batch scheduled its own check), "wait" (the last batch is younger than
    AGENCY_EMBEDDINGS_BULK_SETTLE_SECONDS and the deferral younger than
    AGENCY_EMBEDDINGS_BULK_MAX_DEFER_SECONDS: check again in the seconds returned), else the build
    runs here and the outcome is the index status. The cap keeps a never-pausing stream from leaving
    the collection exact forever; rows arriving during the build are indexed by its validation.
    """
    try:
        collection = Collection.objects.get(pk=collection_id)
    except Collection.DoesNotExist:
        return "gone", 0.0
    if collection.index_status != IndexStatus.DEFERRED:
        return "done", 0.0
    if collection.updated_at != datetime.fromisoformat(written_at):
        return "superseded", 0.0
    now = timezone.now()
    settle = settings.AGENCY_EMBEDDINGS_BULK_SETTLE_SECONDS - (now - collection.updated_at).total_seconds()
    deferred_at = collection.index_deferred_at or collection.updated_at
    cap = settings.AGENCY_EMBEDDINGS_BULK_MAX_DEFER_SECONDS - (now - deferred_at).total_seconds()
    if settle > 0 and cap > 0:
        return "wait", min(settle, cap)
    built = collection_index_build(collection_id=collection.pk)
    return ("gone", 0.0) if built is None else (built.index_status, 0.0)
