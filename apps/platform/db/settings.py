"""Database settings (GUCs) for one statement, that never change the plan of an unrelated query.

Two kinds, treated differently (`SCAN_SETTINGS` says which is which):

* **Planner and executor settings** (`enable_sort`, `work_mem`, ...) are read by every query, so
  they must not outlive the transaction that needed them: a session-level `SET` stays on a reused
  connection and changes the ORM's next, unrelated query. They go through
  `set_config(name, value, true)` (`SET LOCAL`), which PostgreSQL undoes when the transaction ends.
* **Scan settings** (pgvector's `hnsw.*` / `ivfflat.*`) are read only by a vector index scan (and
  its cost estimate), which only callers of this module issue, and each such statement passes
  every scan setting it reads that any statement changes (apps.embeddings pins them, defaults
  included). So a value left on the session cannot reach a statement that did not set it: these
  are set for the session, remembered per connection, and sent again only when they change (no
  round trip at all in a run of searches with the same values).

Outside a transaction (Django's autocommit): changed scan settings are set for the session first
(their own implicit transaction, committed: a failing statement after them cannot undo them
unseen); planner settings that differ from the session's own are sent with the statement in one
psycopg pipeline before one Sync, which PostgreSQL runs as one implicit transaction (they hold for
the statement and end with it, in one network round trip, no BEGIN/COMMIT). The statement alone is
sent when nothing differs: outside a transaction no local value is in force, so the values in force
are the session's, read once per connection and remembered. This relies on nothing else setting
these names for the session on the connection; `forget_session_values` drops what was remembered,
for a caller that did. Inside a transaction every value is set locally before the statement (an
earlier statement may have set a local value; a session SET would be undone, unseen, by a rollback).

Behind PgBouncer in transaction mode (`AGENCY_DB_TENANT_SETTING = "transaction"`, see
apps.platform.db.tenancy) a session value would stay on a server connection that PgBouncer then
hands to another client, whose own statements did not ask for it: there nothing is set for the
session, scan settings included: inside a transaction everything is local anyway (and there the
tenancy layer's hot cursor already wraps a statement in one of its own), and outside one every
value goes with the statement in one pipeline, as planner settings do above (+0.1 ms a statement).
The search tests run each plan kind in this mode and find no pgvector setting left on the session.

Measured here (loopback, 2 cores shared, a trivial prepared SELECT, medians of 7 x 1,000):
alone 40-43 us; outside a transaction, pipelined after set_config 115-117 us (psycopg's pipeline
mode costs more than a round trip; BEGIN + set_config + statement + COMMIT would be four);
inside one, set_config then the statement 88 us, the same pipelined 115 us (so: no pipeline there).
Hence callers avoid needing planner settings at all where they can (apps.embeddings asks PostgreSQL
once per statement whether it would use the index unaided, and sends `enable_sort=off` only if not).
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
from django.conf import settings as django_settings
from psycopg.pq import TransactionStatus

# Read only by pgvector's index scans (and their cost estimates): may stay on the session, see above.
SCAN_SETTINGS = frozenset({
    "hnsw.ef_search", "hnsw.iterative_scan", "hnsw.max_scan_tuples", "hnsw.scan_mem_multiplier",
    "ivfflat.probes", "ivfflat.iterative_scan", "ivfflat.max_probes",
})

# psycopg connection -> {setting name: its session value, None when PostgreSQL does not know it yet}
_session_values: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _set_config_sql(values: Mapping[str, str], *, local: bool) -> tuple[str, list[str]]:
    flag = "true" if local else "false"
    sql = "SELECT " + ", ".join([f"set_config(%s, %s, {flag})"] * len(values))
    return sql, [x for name, value in values.items() for x in (name, value)]


def set_local_sql(values: Mapping[str, str]) -> tuple[str, list[str]]:
    """One SELECT that sets every value for the current transaction only, and its parameters."""
    return _set_config_sql(values, local=True)


def set_local(cur: psycopg.Cursor, values: Mapping[str, str], *, prepare: bool | None = None) -> None:
    """Apply `values` until the end of the current transaction (the caller has one open)."""
    if values:
        cur.execute(*set_local_sql(values), prepare=prepare)


def forget_session_values(conn: psycopg.Connection) -> None:
    """Forget the session values remembered for `conn` (after something SET them for the session)."""
    _session_values.pop(conn, None)


def _session(cur: psycopg.Cursor, names: Sequence[str]) -> dict[str, str | None]:
    """The session's values of `names` (read once per connection and name; kept up to date after)."""
    known = _session_values.get(cur.connection)
    if known is None:
        known = _session_values[cur.connection] = {}
    # A name PostgreSQL did not know yet (an extension's setting before its library loaded: NULL)
    # is read again next time, once a statement has loaded the library.
    missing = [name for name in names if known.get(name) is None]
    if missing:
        cur.execute("SELECT " + ", ".join(["current_setting(%s, true)"] * len(missing)), missing)
        known.update(zip(missing, cur.fetchone(), strict=True))
    return known


def execute_with_settings(cur: psycopg.Cursor, sql: str, params: Sequence[Any], *,
                          values: Mapping[str, str], prepare: bool | None = None) -> None:
    """Execute `sql` with `values` in force; the caller fetches the rows.

    `values` must hold every scan setting (`SCAN_SETTINGS`) the statement reads: those stay on the
    session. Every other value holds for the statement's transaction only. Outside a transaction:
    changed scan settings in one statement of their own, then the statement alone if the planner
    settings match the session's, else `set_config(..., true)` and the statement in one pipeline.
    Inside one: everything `set_config(..., true)`, then the statement. With the transaction-local
    tenant setting (PgBouncer): nothing for the session, every value pipelined with the statement.
    """
    conn = cur.connection
    if conn.info.transaction_status != TransactionStatus.IDLE:
        set_local(cur, values, prepare=prepare)
        cur.execute(sql, params, prepare=prepare)
        return
    if django_settings.AGENCY_DB_TENANT_SETTING == "transaction":
        if not values:
            cur.execute(sql, params, prepare=prepare)
            return
        with conn.pipeline():
            cur.execute(*set_local_sql(values), prepare=prepare)
            cur.execute(sql, params, prepare=prepare)
        return
    known = _session(cur, list(values))
    scan = {name: value for name, value in values.items() if name in SCAN_SETTINGS and known[name] != value}
    local = {name: value for name, value in values.items() if name not in SCAN_SETTINGS and known[name] != value}
    if scan:
        cur.execute(*_set_config_sql(scan, local=False), prepare=prepare)
        known.update(scan)
    if not local:
        cur.execute(sql, params, prepare=prepare)
        return
    with conn.pipeline():
        cur.execute(*set_local_sql(local), prepare=prepare)
        cur.execute(sql, params, prepare=prepare)
