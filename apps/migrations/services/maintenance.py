"""Database upkeep: ANALYZE hot tables, VACUUM (ANALYZE) tables with dead tuples, rebuild bloated
vector indexes, and a report of sizes, dead tuples and index usage from `pg_stat_*`.

HNSW and IVFFlat indexes do not shrink when rows are deleted or updated; they only grow. An index
much bigger than its live rows need is rebuilt with `REINDEX INDEX CONCURRENTLY`, which keeps the
table readable and writable meanwhile. The statements run on an autocommit connection because
VACUUM and REINDEX CONCURRENTLY refuse to run inside a transaction.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import psycopg
from django.conf import settings
from psycopg import sql

from apps.common.errors import ValidationFailed
from apps.migrations.models import MaintenanceRun, RunStatus
from apps.migrations.selectors import maintenance_run_get
from apps.migrations.services import postgres
from apps.migrations.services.guard import MAINTENANCE_LOCK, SKIPPED_LOCK_HELD, LockNotAcquired, exclusive
from apps.migrations.services.records import run_finish, run_skip, run_start

logger = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]
OPTION_KEYS = ("analyze", "vacuum", "reindex", "dry_run", "tables")


def _no_progress(done: int, total: int, message: str) -> None:
    return None


def maintenance_options(
    *, analyze: bool = True, vacuum: bool = True, reindex: bool = True, dry_run: bool = False,
    tables: list[str] | None = None,
) -> dict[str, Any]:
    """Normalised options; an unknown table is named in the error."""
    if tables:
        with postgres.autocommit_connection() as conn:
            known = set(postgres.table_names(conn))
        for i, table in enumerate(tables):
            if table not in known:
                raise ValidationFailed(f"tables[{i}]: no table named {table!r}", code="unknown_table")
    return {"analyze": bool(analyze), "vacuum": bool(vacuum), "reindex": bool(reindex), "dry_run": bool(dry_run),
            "tables": list(tables or [])}


def maintenance_request(*, requested_by: Any = None, actor: str = "", **options: Any) -> MaintenanceRun:
    """A pending run record, for callers that enqueue the work (API, admin)."""
    opts = maintenance_options(**options)
    run = MaintenanceRun(options=opts, dry_run=opts["dry_run"], requested_by=requested_by,
                         actor=actor or getattr(requested_by, "username", ""))
    run.full_clean()
    run.save()
    return run


def maintenance_run(
    *, run_id: Any = None, requested_by: Any = None, actor: str = "", progress: Progress | None = None,
    **options: Any,
) -> MaintenanceRun:
    """Run maintenance (a pending run when `run_id` is given: idempotent, a finished run is returned).

    Another maintenance holding the lock makes a new run end `skipped: lock held`. A run that was
    already started (a redelivered task whose worker died) re-raises `LockNotAcquired` instead, so
    the task retries once the dead worker's lock has lapsed.
    """
    progress = progress or _no_progress
    if run_id is not None:
        run = maintenance_run_get(run_id=run_id)
        if run.is_finished:
            return run
    else:
        run = maintenance_request(requested_by=requested_by, actor=actor, **options)
    try:
        with exclusive(MAINTENANCE_LOCK):
            _maintain(run, progress)
    except LockNotAcquired:
        run.refresh_from_db()
        if run.status == RunStatus.RUNNING:
            raise
        run_skip(run, reason=SKIPPED_LOCK_HELD)
    return run


# --------------------------------------------------------------------------------------------


TABLE_STATS = """
SELECT s.relname, s.n_live_tup, s.n_dead_tup, s.n_mod_since_analyze, s.seq_scan, coalesce(s.idx_scan, 0),
       s.last_vacuum, s.last_autovacuum, s.last_analyze, s.last_autoanalyze,
       pg_total_relation_size(s.relid), pg_relation_size(s.relid), pg_indexes_size(s.relid)
FROM pg_stat_user_tables s WHERE s.schemaname = 'public' ORDER BY pg_total_relation_size(s.relid) DESC, s.relname
"""
INDEX_STATS = """
SELECT i.relname, i.indexrelname, am.amname, pg_relation_size(i.indexrelid), i.idx_scan, i.idx_tup_read,
       i.idx_tup_fetch, ix.indisunique, ix.indisprimary
FROM pg_stat_user_indexes i
JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam
JOIN pg_index ix ON ix.indexrelid = i.indexrelid
WHERE i.schemaname = 'public' ORDER BY pg_relation_size(i.indexrelid) DESC, i.indexrelname
"""
VECTOR_INDEXES = """
SELECT c.relname, t.relname, am.amname, pg_relation_size(c.oid), coalesce(s.n_live_tup, 0), c.reloptions,
       a.attname, st.avg_width, format_type(a.atttypid, a.atttypmod)
FROM pg_index ix
JOIN pg_class c ON c.oid = ix.indexrelid JOIN pg_class t ON t.oid = ix.indrelid
JOIN pg_am am ON am.oid = c.relam JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_stat_user_tables s ON s.relid = t.oid
LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ix.indkey[0]
LEFT JOIN pg_stats st ON st.schemaname = n.nspname AND st.tablename = t.relname AND st.attname = a.attname
WHERE am.amname IN ('hnsw', 'ivfflat') AND n.nspname = 'public' ORDER BY c.relname
"""


def _iso(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def table_stats(conn: psycopg.Connection) -> list[dict[str, Any]]:
    out = []
    for row in conn.execute(TABLE_STATS).fetchall():
        (name, live, dead, mod, seq, idx, lv, lav, la, laa, total, heap, indexes) = row
        out.append({
            "table": name, "live_rows": live, "dead_rows": dead,
            "dead_ratio": round(dead / (live + dead), 4) if live + dead else 0.0,
            "modified_since_analyze": mod, "seq_scans": seq, "index_scans": idx,
            "last_vacuum": _iso(max(filter(None, [lv, lav]), default=None)),
            "last_analyze": _iso(max(filter(None, [la, laa]), default=None)),
            "total_bytes": total, "table_bytes": heap, "index_bytes": indexes,
        })
    return out


def index_stats(conn: psycopg.Connection) -> list[dict[str, Any]]:
    out = []
    for name_t, name_i, am, size, scans, read, fetched, unique, primary in conn.execute(INDEX_STATS).fetchall():
        out.append({"table": name_t, "index": name_i, "method": am, "bytes": size, "scans": scans,
                    "tuples_read": read, "tuples_fetched": fetched, "unique": unique, "primary": primary,
                    "unused": scans == 0 and not unique and not primary})
    return out


def _vector_width(type_name: str) -> int:
    """Bytes of one stored vector from its declared type, e.g. vector(1536) -> 4*1536+8."""
    try:
        dims = int(type_name.split("(", 1)[1].rstrip(")"))
    except (IndexError, ValueError):
        return 0
    return (2 if type_name.startswith("halfvec") else 4) * dims + 8


def vector_index_stats(
    conn: psycopg.Connection, *, ratio: float | None = None, min_bytes: int | None = None
) -> list[dict[str, Any]]:
    """Each vector index with the size its live rows need and whether it is bloated past the threshold.

    Expected bytes per row: the vector (pg_stats' average width, else from the declared dimensions)
    plus the neighbour list of HNSW (2*m item pointers of 6 bytes, m from reloptions, default 16)
    plus tuple/page overhead; IVFFlat stores the vector and a pointer.
    """
    ratio = settings.AGENCY_REINDEX_BLOAT_RATIO if ratio is None else ratio
    min_bytes = settings.AGENCY_REINDEX_MIN_BYTES if min_bytes is None else min_bytes
    out = []
    for index, table, am, size, rows, reloptions, column, avg_width, type_name in conn.execute(VECTOR_INDEXES):
        opts = dict(o.split("=", 1) for o in (reloptions or []))
        width = int(avg_width or 0) or _vector_width(type_name or "")
        per_row = width + (12 * int(opts.get("m", 16)) + 32 if am == "hnsw" else 24)
        expected = max(rows, 0) * per_row
        bloat = round(size / expected, 2) if expected else None
        due = size >= min_bytes and (bloat is None or bloat >= ratio)
        out.append({"index": index, "table": table, "method": am, "column": column, "bytes": size,
                    "live_rows": rows, "expected_bytes": expected, "bloat_ratio": bloat, "threshold": ratio,
                    "min_bytes": min_bytes, "reindex_due": due})
    return out


def maintenance_report(conn: psycopg.Connection) -> dict[str, Any]:
    tables = table_stats(conn)
    indexes = index_stats(conn)
    return {
        "database": conn.info.dbname,
        "database_bytes": conn.execute("SELECT pg_database_size(current_database())").fetchone()[0],
        "tables": tables,
        "indexes": indexes,
        "vector_indexes": vector_index_stats(conn),
        "totals": {
            "tables": len(tables), "live_rows": sum(t["live_rows"] for t in tables),
            "dead_rows": sum(t["dead_rows"] for t in tables),
            "unused_indexes": [i["index"] for i in indexes if i["unused"]],
        },
    }


def _plan(conn: psycopg.Connection, opts: dict[str, Any]) -> list[tuple[str, str, sql.Composable]]:
    wanted = set(opts.get("tables") or [])
    tables = [t for t in table_stats(conn) if not wanted or t["table"] in wanted]
    steps: list[tuple[str, str, sql.Composable]] = []
    if opts.get("analyze"):
        for t in tables:
            if t["modified_since_analyze"] or not t["last_analyze"]:
                steps.append(("ANALYZE", t["table"], sql.SQL("ANALYZE {}").format(sql.Identifier(t["table"]))))
    if opts.get("vacuum"):
        for t in tables:
            if t["dead_rows"]:
                steps.append(("VACUUM (ANALYZE)", t["table"],
                              sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(t["table"]))))
    if opts.get("reindex"):
        for v in vector_index_stats(conn):
            if v["reindex_due"] and (not wanted or v["table"] in wanted):
                steps.append(("REINDEX INDEX CONCURRENTLY", v["index"],
                              sql.SQL("REINDEX INDEX CONCURRENTLY {}").format(sql.Identifier(v["index"]))))
    return steps


def _maintain(run: MaintenanceRun, progress: Progress) -> None:
    run_start(run)
    opts = {**maintenance_options(), **{k: v for k, v in (run.options or {}).items() if k in OPTION_KEYS}}
    actions: list[dict[str, Any]] = []
    try:
        with postgres.autocommit_connection() as conn:
            before = {"vector_indexes": vector_index_stats(conn)}
            steps = _plan(conn, opts)
            for i, (action, target, statement) in enumerate(steps, 1):
                progress(i - 1, len(steps), f"{action} {target}")
                started = time.monotonic()
                if not opts["dry_run"]:
                    conn.execute(statement)
                actions.append({"action": action, "target": target, "executed": not opts["dry_run"],
                                "seconds": round(time.monotonic() - started, 3)})
            progress(len(steps), len(steps), "collecting the report")
            report = maintenance_report(conn)
        report["vector_indexes_before"] = before["vector_indexes"]
        report["actions"] = actions
        report["options"] = opts
        run.report = report
    except Exception as exc:  # noqa: BLE001 - recorded on the run
        logger.exception("maintenance run %s failed", run.pk)
        run.report = {"actions": actions, "options": opts}
        run_finish(run, status=RunStatus.FAILED, error=str(exc), fields=("report",))
        return
    run_finish(run, status=RunStatus.SUCCEEDED, fields=("report",))
