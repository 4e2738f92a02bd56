"""Per-collection partial expression indexes: build, drop, rebuild, ANALYZE, size and usage report.

Each collection gets `CREATE INDEX CONCURRENTLY emb_<collection hex>_<params hash> ON
embeddings_embedding USING hnsw ((vector::vector(768)) vector_cosine_ops) WITH (...) WHERE
collection_id = '<uuid>'`. The name carries a hash of the index parameters, so a parameter change
builds the new index next to the old one (searches keep working) and then drops the old one.
CONCURRENTLY cannot run inside a transaction: inside one (tests, admin actions in atomic
requests) the build falls back to a plain CREATE INDEX.
"""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import connection
from django.utils import timezone

from apps.embeddings.caching import collection_cache_invalidate
from apps.embeddings.models import METRIC_SQL, Collection, IndexStatus, IndexType

log = logging.getLogger(__name__)

TABLE = "embeddings_embedding"
# The Celery task wrapping collection_index_build (tasks.py registers it under this name): services
# enqueue it by name (apps.platform.jobs), so no services module imports the tasks module.
BUILD_TASK = "agency.embeddings.build_index"
BUILD_QUEUE = "maintenance"


def _concurrently(requested: bool | None) -> str:
    if requested is None:
        requested = not connection.in_atomic_block
    return "CONCURRENTLY " if requested else ""


def _set_status(collection: Collection, status: str, error: str = "") -> None:
    fields: dict[str, Any] = {"index_status": status, "index_error": error[:2000]}
    if status == IndexStatus.READY:
        fields["index_built_at"] = timezone.now()
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
    try:
        with connection.cursor() as cur:
            if connection.in_atomic_block:
                # Rows written earlier in this transaction have deferred FK checks pending, and
                # PostgreSQL refuses to index a table with pending trigger events: run them now.
                cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
            else:
                cur.execute("SELECT set_config('maintenance_work_mem', %s, false)",
                            [settings.AGENCY_EMBEDDINGS_BUILD_MEMORY])
            for name, ddl in statements:
                if name in existing and not existing[name]:
                    _drop(name, concurrently=conc)  # an INVALID left by an interrupted CONCURRENTLY build
                elif name in existing and reindex:
                    cur.execute(f"REINDEX INDEX {'CONCURRENTLY ' if conc else ''}{name}")
                    continue
                cur.execute(ddl)
            if not connection.in_atomic_block:
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


def collection_indexes_drop(*, collection_id: UUID | str, concurrently: bool | None = None) -> list[str]:
    """Drop every index of a collection (after the collection is gone, or for index none)."""
    hex_id = UUID(str(collection_id)).hex
    names = [*_existing(f"emb_{hex_id}_"), *_existing(f"embq_{hex_id}")]
    for name in names:
        _drop(name, concurrently=concurrently)
    return names


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
