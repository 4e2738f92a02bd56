"""The statement a search runs: its plan, its SQL (filter inlined) and its database settings, memoised."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from django.db import connection

from apps.embeddings.models import Collection
from apps.embeddings.selectors.filters import filter_key, filter_where
from apps.embeddings.selectors.planner import Plan, memo_store, memoised, plan_search
from apps.embeddings.selectors.search.requests import SearchParams
from apps.embeddings.selectors.search.sql import inline_filter, search_sql
from apps.platform.db.settings import execute_with_settings
from apps.platform.db.vectors import vector_cursor

# The settings every planned query pins: what the planner decided, and the defaults for the rest,
# so neither a server, database or role default nor an earlier search changes the plan it reports.
# The pgvector ones are scan settings (apps.platform.db.settings.SCAN_SETTINGS), left on the
# session between searches: sound because every search sets each one its scan reads (these, and
# `ivfflat.max_probes`, read only by the iterative IVFFlat scans that set it). enable_sort is a
# planner setting (transaction-local), "on" unless `index_needs_forcing`.
GUC_DEFAULTS = {
    "hnsw.ef_search": 40,
    "hnsw.iterative_scan": "off",
    "hnsw.max_scan_tuples": 20000,
    "ivfflat.probes": 1,
    "ivfflat.iterative_scan": "off",
    "enable_sort": "on",
}


@dataclass
class Statement:
    """A planned search ready to run: its plan, its SQL (filter inlined) and its settings.

    The query vector is its only parameter (`vectors` placeholders, all the same vector).
    """

    plan: Plan
    sql: str
    vectors: int
    gucs: dict[str, str]


_statements: dict[tuple, tuple[float, Statement]] = memo_store()
_VECTOR = object()  # stands for the query vector while the SQL is built


def statement_compile(collection: Collection, plan: Plan, k: int, include: set[str], where: str,
                      where_params: list) -> Statement:
    """The statement of a plan (not memoised: the exact fallback of a short approximate scan uses it)."""
    if where_params:
        connection.ensure_connection()
        where = inline_filter(connection.connection, where, where_params)
    sql, params = search_sql(collection, plan, _VECTOR, k, include, where, [])
    gucs = {name: str(value) for name, value in {**GUC_DEFAULTS, **plan.settings}.items()}
    statement = Statement(plan, sql, len(params), gucs)
    if plan.index and not plan.strategy.startswith("exact") and index_needs_forcing(collection, statement):
        plan.settings["enable_sort"] = "off"
        gucs["enable_sort"] = "off"
    return statement


def index_needs_forcing(collection: Collection, statement: Statement) -> bool:
    """Whether PostgreSQL, left alone, would not scan the plan's index (EXPLAIN, once per statement).

    It may misjudge a collection's size (fresh rows, no ANALYZE yet) or find sorting a small one
    cheaper (pgvector's cost grows with ef_search), and prefer "scan the collection and sort", i.e.
    an exact scan. Measured here: fresh 2,000 x 32 and 5,000 x 768 collections sorted, analyzed
    ones used the index; the analyzed 2,000 x 32 of `bench/embeddings.py --quick` used it at
    ef_search 40 and sorted at 100. The planner has decided, so then the statement runs with
    `enable_sort=off`; only then, because that planner setting must be transaction-local, which
    costs each search a psycopg pipeline (+0.1-0.16 ms), where pgvector's scan settings cost
    nothing in steady state. Asked with a zero query vector (the index's cost does not depend on
    it) and memoised with the statement: should PostgreSQL change its mind within the memo's
    lifetime, that search is an exact scan, right answers only slower, until the next planning.
    """
    zero = np.zeros(int(collection.dimension), dtype=np.float32)
    with vector_cursor() as cur:
        execute_with_settings(cur, "EXPLAIN " + statement.sql, [zero] * statement.vectors, values=statement.gucs)
        return not any(statement.plan.index in row[0] for row in cur.fetchall())


def search_statement(collection: Collection, params: SearchParams, k: int) -> Statement:
    """The statement for a search (plan included), memoised for AGENCY_EMBEDDINGS_PLAN_CACHE_SECONDS.

    A search then costs one dictionary lookup before the query: filter compilation, planning,
    quoting and SQL building measured ~0.15 ms a search (0.3 ms with cold CPU caches) beside a
    0.25 ms exact scan over a 15-row filter. The key holds everything the statement depends on;
    a collection's save or index change makes a new key, a settings change clears the memo.
    """
    c = collection  # the fields behind its index name and SQL, read directly (index_name hashes them)
    key = (c.pk, c.updated_at, c.index_status, c.index_type, c.metric, c.precision, c.dimension, c.m,
           c.ef_construction, c.lists, c.binary_index, k, filter_key(params.filter), params.ef_search,
           params.probes, params.exact, frozenset(params.include))
    return memoised(_statements, key, lambda: _plan_statement(collection, params, k))


def _plan_statement(collection: Collection, params: SearchParams, k: int) -> Statement:
    where, where_params = filter_where(params.filter)
    plan = plan_search(collection, k=k, exact=params.exact, filtered=params.filter is not None,
                       where=where, where_params=where_params, ef_search=params.ef_search, probes=params.probes)
    return statement_compile(collection, plan, k, params.include, where, where_params)
