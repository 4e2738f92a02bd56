"""No search leaves a setting behind that changes another query (issue #14, "a settings leak").

Run on Django's persistent connection outside any test transaction (autocommit, as a request
outside an atomic block): after a search of every plan kind, with `enable_sort=off` forced where
the plan has an index, the session's `enable_sort` is on and an ORM `ORDER BY` that PostgreSQL
sorts still has its Sort node. With `AGENCY_DB_TENANT_SETTING = "transaction"` (PgBouncer) the
pgvector scan settings are transaction-local too: none is left on the server session.
"""

from __future__ import annotations

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.db import connection, transaction

from apps.embeddings.selectors.search import SearchParams, embedding_search, statements
from apps.embeddings.services.collections import collection_create
from apps.embeddings.services.indexes import collection_index_build, embeddings_analyze
from apps.embeddings.services.ingest import embeddings_upsert
from apps.embeddings.tests.factories import clustered, items_from
from apps.platform.db.settings import execute_with_settings, forget_session_values
from apps.tenants.selectors import default_tenant_id

pytestmark = pytest.mark.django_db(transaction=True)

DIM = 8
ROWS = 300
# (collection options, search options, the plan strategy that answers)
KINDS = [
    ({}, {}, "hnsw"),
    ({"precision": "halfvec"}, {}, "hnsw"),
    ({"index_type": "ivfflat", "lists": 4}, {"probes": 3}, "ivfflat"),
    ({"binary_index": True}, {}, "binary_rerank"),
    ({}, {"filter": {"bucket": "a"}}, "hnsw_iterative"),
    ({"index_type": "ivfflat", "lists": 4}, {"filter": {"bucket": "a"}}, "ivfflat_iterative"),
    ({}, {"filter": {"rare": True}}, "exact_filtered"),
    ({}, {"exact": True}, "exact"),
    ({}, {"query_text": "alpha"}, "hybrid"),
    ({}, {"query_text": "alpha", "vector": None}, "full_text"),
]
SCAN_NAMES = ("hnsw.ef_search", "hnsw.iterative_scan", "hnsw.max_scan_tuples", "ivfflat.probes",
              "ivfflat.iterative_scan", "ivfflat.max_probes")


def _collection(**options):
    col = collection_create(tenant_id=default_tenant_id(), name="docs", dimension=DIM, **options)
    vecs = clustered(ROWS, DIM)
    metadata = [{"bucket": "a" if i % 2 else "b", **({"rare": True} if i < 5 else {})} for i in range(ROWS)]
    contents = [("alpha " if i % 3 == 0 else "beta ") + str(i) for i in range(ROWS)]
    embeddings_upsert(collection=col, items=items_from(vecs, metadata=metadata, contents=contents))
    col = collection_index_build(collection_id=col.pk, reindex=True)
    embeddings_analyze()
    return col, vecs


def _search(monkeypatch, settings, col_options, search_options, strategy):
    settings.AGENCY_EMBEDDINGS_BULK_MIN_ROWS = 10**6  # the index stays live
    settings.AGENCY_EMBEDDINGS_EXACT_THRESHOLD = 20  # 150 of 300 rows match a bucket: iterative
    settings.AGENCY_EMBEDDINGS_PLAN_CACHE_SECONDS = 0
    # Every index plan sends enable_sort=off (PostgreSQL's own verdict varies with the data; the
    # forced one is the path that could leak).
    monkeypatch.setattr(statements, "index_needs_forcing", lambda collection, statement: True)
    col, vecs = _collection(**col_options)
    params = {"vector": vecs[0].astype(np.float64), "k": 5, "ef_search": 57, **search_options}
    result = embedding_search(collection=col, params=SearchParams(**params))
    kind = "hybrid" if "hybrid" in result["plan"] else result["plan"]["strategy"]
    assert kind == strategy, result["plan"]
    assert result["results"]
    if strategy not in ("exact", "exact_filtered", "full_text"):
        assert result["plan"]["settings"].get("enable_sort") == "off"
    return col


def _show(name: str) -> str | None:
    with connection.cursor() as cur:
        cur.execute("SELECT current_setting(%s, true)", [name])
        return cur.fetchone()[0]


def _sorts(qs) -> bool:
    return "Sort" in qs.explain()


def _users_query():
    """An ORM query PostgreSQL answers by sorting (a seq scan of a few rows, sorted on a column
    with an index it could walk instead), and walks the index when sorting is disabled."""
    user = get_user_model()
    user.objects.bulk_create([user(username=f"u{i:03d}") for i in range(50)])
    with connection.cursor() as cur:
        cur.execute("ANALYZE auth_user")
    return user.objects.order_by("username")


@pytest.mark.parametrize(("col_options", "search_options", "strategy"), KINDS, ids=[k[2] + str(i) for i, k in
                                                                                     enumerate(KINDS)])
def test_after_a_search_the_session_sorts_again(monkeypatch, settings, col_options, search_options, strategy):
    query = _users_query()
    assert _sorts(query)
    with transaction.atomic(), connection.cursor() as cur:  # the control: this query can tell
        cur.execute("SET LOCAL enable_sort = off")
        assert not _sorts(query)
    assert not connection.in_atomic_block
    _search(monkeypatch, settings, col_options, search_options, strategy)
    assert not connection.in_atomic_block and connection.connection is not None
    assert _show("enable_sort") == "on"
    assert _sorts(query)


@pytest.mark.parametrize(("col_options", "search_options", "strategy"), KINDS[:6], ids=[k[2] + str(i) for i, k in
                                                                                         enumerate(KINDS[:6])])
def test_behind_pgbouncer_no_scan_setting_stays_on_the_session(monkeypatch, settings, col_options,
                                                                search_options, strategy):
    """In transaction mode a session value would reach the next client of the server connection."""
    settings.AGENCY_DB_TENANT_SETTING = "transaction"
    connection.ensure_connection()
    with connection.cursor() as cur:  # what an earlier test on this connection may have left
        for name in SCAN_NAMES:
            cur.execute(f"RESET {name}")
    forget_session_values(connection.connection)
    _search(monkeypatch, settings, col_options, search_options, strategy)
    settings.AGENCY_DB_TENANT_SETTING = "session"  # read back without a transaction of our own
    with connection.cursor() as cur:
        cur.execute("SELECT name, setting, source FROM pg_settings WHERE name = ANY(%s) AND source = 'session'",
                    [list(SCAN_NAMES)])
        assert cur.fetchall() == []
    assert _show("enable_sort") == "on"


def test_in_transaction_mode_a_statement_outside_a_transaction_sets_nothing_for_the_session(settings):
    """The branch for PgBouncer itself, on the raw connection (no tenancy wrapping): the statement sees
    every value, the session none of them afterwards."""
    show = "SELECT current_setting('hnsw.ef_search', true), current_setting('enable_sort')"
    connection.ensure_connection()
    raw = connection.connection
    forget_session_values(raw)
    settings.AGENCY_DB_TENANT_SETTING = "transaction"
    with raw.cursor() as cur:
        execute_with_settings(cur, show, [], values={"hnsw.ef_search": "77", "enable_sort": "off"})
        assert cur.fetchone() == ("77", "off")
        cur.execute(show)
        ef, sort = cur.fetchone()
        assert ef != "77" and sort == "on"
        cur.execute("SELECT count(*) FROM pg_settings WHERE name = ANY(%s) AND source = 'session'",
                    [["hnsw.ef_search", "enable_sort"]])
        assert cur.fetchone()[0] == 0
