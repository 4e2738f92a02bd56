"""The planner: filtered searches keep their recall at every selectivity, and say how they ran."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from django.db import connection

from apps.embeddings.selectors.search import SearchParams, embedding_search, search_explain
from apps.embeddings.services.collections import collection_create
from apps.embeddings.services.indexes import collection_index_build
from apps.embeddings.services.ingest import embeddings_import
from apps.embeddings.tests.factories import clustered
from apps.tenants.selectors import default_tenant_id

pytestmark = pytest.mark.django_db

N, DIM = 2000, 32


@pytest.fixture
def filtered_collection():
    col = collection_create(tenant_id=default_tenant_id(), name="planned", dimension=DIM)
    vecs = clustered(N, DIM, seed=11)
    rng = np.random.default_rng(5)
    # "bucket": 50% / 10% / 1% / rare(15 rows) value sets, assigned independently of the clusters
    buckets = rng.choice(["half", "tenth", "pct", "other"], size=N, p=[0.5, 0.1, 0.01, 0.39])
    rare = rng.choice(N, 15, replace=False)
    items = []
    for i, v in enumerate(vecs):
        meta = {"bucket": str(buckets[i]), "rare": bool(i in rare), "n": int(i)}
        items.append({"entity_type": "doc", "entity_id": str(i), "vector": v.tolist(), "metadata": meta})
    embeddings_import(collection=col, items=items, chunk_size=1000)
    col = collection_index_build(collection_id=col.pk, reindex=True)
    return col, vecs, buckets, rare


def _truth(vecs, mask, q, k=10):
    normed = vecs / np.linalg.norm(vecs, axis=1, keepdims=True)
    sims = normed @ (q / np.linalg.norm(q))
    sims[~mask] = -np.inf
    order = np.argsort(-sims)[:k]
    return {int(i) for i in order if mask[i]}


@pytest.mark.parametrize(("spec", "which"), [
    ({"bucket": "half"}, "half"), ({"bucket": "tenth"}, "tenth"), ({"bucket": "pct"}, "pct"), ({"rare": True}, "rare"),
])
def test_filtered_recall_at_every_selectivity(filtered_collection, settings, spec, which):
    col, vecs, buckets, rare = filtered_collection
    settings.AGENCY_EMBEDDINGS_EXACT_THRESHOLD = 150  # scaled to the 2,000-row test set
    mask = np.isin(np.arange(N), rare) if which == "rare" else buckets == which
    rng = np.random.default_rng(9)
    found = expected = 0
    strategies = set()
    for qi in rng.choice(N, 10, replace=False):
        q = vecs[qi].astype(np.float64)
        res = embedding_search(collection=col, params=SearchParams(vector=q, k=10, filter=spec))
        truth = _truth(vecs, mask, q)
        got = {int(h["entity_id"]) for h in res["results"]}
        assert len(got) == min(10, mask.sum())  # never short
        assert all(mask[i] for i in got)
        found += len(truth & got)
        expected += len(truth)
        strategies.add(res["plan"]["strategy"])
    assert found / expected >= 0.95
    if mask.sum() > 150:
        assert strategies == {"hnsw_iterative"}
    else:
        assert strategies == {"exact_filtered"}


def test_plan_reports_the_estimate(filtered_collection, settings):
    col, vecs, _, rare = filtered_collection
    settings.AGENCY_EMBEDDINGS_EXACT_THRESHOLD = 150
    res = embedding_search(collection=col, params=SearchParams(vector=vecs[0].astype(np.float64), k=5,
                                                               filter={"rare": True}))
    plan = res["plan"]
    assert plan["strategy"] == "exact_filtered" and plan["estimated_rows"] == 15 and plan["estimate"] == "exact"
    res = embedding_search(collection=col, params=SearchParams(vector=vecs[0].astype(np.float64), k=5,
                                                               filter={"bucket": "half"}))
    # Counted up to 2k * total / ef (10 * 2000 / 40 = 500, + 1): enough to know ef 40 is big enough.
    assert res["plan"]["estimated_rows"] == 501 and res["plan"]["estimate"] == "lower_bound"
    assert res["plan"]["settings"]["hnsw.iterative_scan"] == "relaxed_order"
    assert res["plan"]["settings"]["hnsw.ef_search"] == 40
    explain = search_explain(collection=col, params=SearchParams(vector=vecs[0].astype(np.float64), k=5,
                                                                 filter={"bucket": "half"}))
    assert f"Index Scan using {col.index_name}" in explain


def test_iterative_scan_ef_is_sized_from_the_counted_selectivity(filtered_collection, settings):
    col, vecs, buckets, _ = filtered_collection
    settings.AGENCY_EMBEDDINGS_EXACT_THRESHOLD = 150
    tenth = int((buckets == "tenth").sum())  # about 200 of 2,000 rows
    res = embedding_search(collection=col, params=SearchParams(vector=vecs[0].astype(np.float64), k=10,
                                                               filter={"bucket": "tenth"}))
    plan = res["plan"]
    assert plan["strategy"] == "hnsw_iterative" and plan["estimated_rows"] == tenth and plan["estimate"] == "exact"
    assert plan["settings"]["hnsw.ef_search"] == -(-20 * N // tenth)  # one pass finds about 2k matches
    assert plan["settings"]["hnsw.max_scan_tuples"] == max(20_000, 128 * -(-40 * N // tenth))
    explicit = embedding_search(collection=col, params=SearchParams(vector=vecs[0].astype(np.float64), k=10,
                                                                    filter={"bucket": "tenth"}, ef_search=64))
    assert explicit["plan"]["settings"]["hnsw.ef_search"] == 64  # the caller's choice wins


def test_short_iterative_scan_falls_back_to_exact(filtered_collection, settings):
    """Force the iterative scan to stop early (tiny max_scan_tuples): the answer is still complete."""
    col, vecs, buckets, _ = filtered_collection
    settings.AGENCY_EMBEDDINGS_EXACT_THRESHOLD = 5
    settings.AGENCY_EMBEDDINGS_MAX_SCAN_TUPLES = 1
    settings.AGENCY_EMBEDDINGS_EF_SEARCH = 10
    mask = buckets == "pct"
    q = vecs[int(np.flatnonzero(buckets == "half")[0])].astype(np.float64)
    with connection.cursor() as cur:  # make PostgreSQL take the HNSW path on this small table
        cur.execute("SET LOCAL enable_bitmapscan = off; SET LOCAL enable_sort = off; SET LOCAL enable_seqscan = off")
    # An explicit small ef_search (the planner would size it to find the ~20 rows in one pass).
    res = embedding_search(collection=col, params=SearchParams(vector=q, k=10, filter={"bucket": "pct"},
                                                               ef_search=10))
    assert res["plan"]["strategy"] == "exact_filtered" and "fallback" in res["plan"]
    assert res["plan"]["settings"] == {}  # an exact scan: no index to force, so no enable_sort either
    assert {int(h["entity_id"]) for h in res["results"]} == _truth(vecs, mask, q)


def test_exact_flag_and_unready_index_search_exactly(filtered_collection):
    col, vecs, _, _ = filtered_collection
    q = vecs[3].astype(np.float64)
    res = embedding_search(collection=col, params=SearchParams(vector=q, k=10, exact=True))
    assert res["plan"]["strategy"] == "exact"
    assert {int(h["entity_id"]) for h in res["results"]} == _truth(vecs, np.ones(N, bool), q)
    col.index_status = "building"
    res = embedding_search(collection=col, params=SearchParams(vector=q, k=10))
    assert res["plan"]["strategy"] == "exact" and res["plan"]["reason"] == "index not ready"


def test_ivfflat_collections_plan_with_probes_and_iterative_scans(settings):
    settings.AGENCY_EMBEDDINGS_EXACT_THRESHOLD = 50
    col = collection_create(tenant_id=default_tenant_id(), name="ivf", dimension=DIM, index_type="ivfflat", lists=10)
    vecs = clustered(600, DIM, seed=4)
    items = [{"entity_type": "doc", "entity_id": str(i), "vector": v.tolist(), "metadata": {"even": i % 2 == 0}}
             for i, v in enumerate(vecs)]
    embeddings_import(collection=col, items=items)
    col = collection_index_build(collection_id=col.pk)
    q = vecs[1].astype(np.float64)
    res = embedding_search(collection=col, params=SearchParams(vector=q, k=10, probes=10))
    assert res["plan"]["strategy"] == "ivfflat" and res["plan"]["settings"]["ivfflat.probes"] == 10
    assert res["results"][0]["entity_id"] == "1"
    res = embedding_search(collection=col, params=SearchParams(vector=q, k=10, filter={"even": True}))
    assert res["plan"]["strategy"] in ("ivfflat_iterative", "exact_filtered")  # exact only as a fallback
    assert res["plan"]["strategy"] == "ivfflat_iterative" or "fallback" in res["plan"]
    mask = np.arange(600) % 2 == 0
    assert {int(h["entity_id"]) for h in res["results"]} == _truth(vecs, mask, q)


def test_exact_limit_follows_the_cost_rule(settings):
    from apps.embeddings.selectors.planner import exact_limit

    settings.AGENCY_EMBEDDINGS_EXACT_THRESHOLD = 5000
    assert 3800 < exact_limit(total=100_000, k=10, dimension=768) < 3900  # 1% filter exact, 10% iterative
    assert 1700 < exact_limit(total=20_000, k=10, dimension=768) < 1750
    assert 2300 < exact_limit(total=17_954, k=10, dimension=384) < 2320  # MiniLM: 10% exact, 21% iterative
    assert exact_limit(total=10**9, k=10, dimension=8) == 5000  # capped
    assert exact_limit(total=0, k=10, dimension=768) == 10


def _prepared_searches() -> list[str]:
    with connection.cursor() as cur:
        cur.execute("SELECT statement FROM pg_prepared_statements WHERE statement LIKE '%%embeddings_embedding%%'")
        return [r[0] for r in cur.fetchall()]


def test_searches_are_prepared_with_their_filter_inlined(filtered_collection, settings):
    collection, vecs, buckets, _ = filtered_collection
    settings.AGENCY_EMBEDDINGS_EXACT_THRESHOLD = 150
    for q in vecs[:3]:
        embedding_search(collection=collection, params=SearchParams(vector=q.astype(np.float64), k=5))
    assert len(_prepared_searches()) == 1  # one statement, prepared once, reused

    # A forced index scan (iterative, sort off): prepared too, and still right once PostgreSQL
    # switches to the generic plan (after five executions).
    mask = buckets == "half"
    found = expected = 0
    for q in vecs[:8]:
        res = embedding_search(collection=collection, params=SearchParams(vector=q.astype(np.float64), k=10,
                                                                          filter={"bucket": "half"}))
        assert res["plan"]["strategy"] == "hnsw_iterative"
        truth = _truth(vecs, mask, q.astype(np.float64))
        found += len(truth & {int(h["entity_id"]) for h in res["results"]})
        expected += len(truth)
    assert found / expected >= 0.95
    assert len(_prepared_searches()) == 2
    with connection.cursor() as cur:
        cur.execute("SELECT max(generic_plans) FROM pg_prepared_statements WHERE statement LIKE '%%@>%%'")
        assert cur.fetchone()[0] >= 1

    # Exact over the filtered rows: prepared too, with the filter as a literal (so PostgreSQL plans
    # with its real selectivity), exact and complete every time.
    mask = buckets == "pct"
    for q in vecs[:7]:
        res = embedding_search(collection=collection, params=SearchParams(vector=q.astype(np.float64), k=5,
                                                                          filter={"bucket": "pct"}))
        assert res["plan"]["strategy"] == "exact_filtered"
        assert {int(h["entity_id"]) for h in res["results"]} == _truth(vecs, mask, q.astype(np.float64), k=5)
    statements = _prepared_searches()
    assert len(statements) == 3 and any("""'{"bucket": "pct"}'""" in sql for sql in statements)

    settings.AGENCY_DB_PREPARED_STATEMENTS = False
    embedding_search(collection=collection, params=SearchParams(vector=vecs[0].astype(np.float64), k=7))
    assert len(_prepared_searches()) == 3


def test_a_forced_scan_inlines_its_filter_safely(filtered_collection, settings):
    """Iterative plans inline the filter's values as literals: quotes and % must survive intact."""
    collection, vecs, buckets, _ = filtered_collection
    settings.AGENCY_EMBEDDINGS_EXACT_THRESHOLD = 150
    q = vecs[3].astype(np.float64)
    res = embedding_search(collection=collection, params=SearchParams(
        vector=q, k=10, filter={"bucket": {"$like": "h%"}, "$not": {"bucket": "it's; DROP TABLE x"}}))
    assert res["plan"]["strategy"] == "hnsw_iterative"
    mask = buckets == "half"
    got = {int(h["entity_id"]) for h in res["results"]}
    assert len(got) == 10 and all(mask[i] for i in got)
    assert len(got & _truth(vecs, mask, q)) >= 9


def test_filter_compilation_is_memoised_but_still_validates():
    from apps.common.errors import ValidationFailed
    from apps.embeddings.selectors.filters import filter_compile

    first_sql, first_params = filter_compile({"a": {"$in": [1, 2]}})
    expected = list(first_params)
    first_params.append("mutated by a caller")
    assert filter_compile({"a": {"$in": [1, 2]}}) == (first_sql, expected)
    for _ in range(2):  # a bad filter raises every time, not only the first
        with pytest.raises(ValidationFailed, match=r"filter\.a: unknown operator \$regex"):
            filter_compile({"a": {"$regex": "x"}})


def test_replanning_reuses_the_memoised_counts_and_a_settings_change_replans(filtered_collection, settings,
                                                                           django_assert_num_queries):
    from apps.embeddings.selectors.filters import filter_compile
    from apps.embeddings.selectors.planner import plan_search

    col, _, _, _ = filtered_collection
    settings.AGENCY_EMBEDDINGS_EXACT_THRESHOLD = 150
    where, params = filter_compile({"bucket": "tenth"})
    first = plan_search(col, k=10, exact=False, filtered=True, where=where, where_params=params)
    with django_assert_num_queries(0):  # no count query the second time
        second = plan_search(col, k=10, exact=False, filtered=True, where=where, where_params=params)
    assert second is not first and second.as_dict() == first.as_dict()
    second.strategy = "altered by a caller"
    assert plan_search(col, k=10, exact=False, filtered=True, where=where, where_params=params).strategy == \
        first.strategy
    settings.AGENCY_EMBEDDINGS_EXACT_THRESHOLD = 5000  # now the ~200 matching rows are searched exactly
    assert plan_search(col, k=10, exact=False, filtered=True, where=where, where_params=params).strategy == \
        "exact_filtered"


def test_memoised_statements_follow_the_collection_and_the_settings(filtered_collection, settings,
                                                                     django_capture_on_commit_callbacks):
    """A search's statement is memoised per shape; an index change or a settings change never serves a stale one."""
    from apps.embeddings.selectors.search import search_statement
    from apps.embeddings.services.collections import collection_update

    col, vecs, _, _ = filtered_collection
    settings.AGENCY_EMBEDDINGS_EXACT_THRESHOLD = 150
    q = vecs[1].astype(np.float64)
    params = SearchParams(vector=q, k=10)
    first = search_statement(col, params, 10)
    assert search_statement(col, params, 10) is first  # memoised
    assert search_statement(col, SearchParams(vector=q, k=10, include={"metadata"}), 10).sql != first.sql
    old_index = col.index_name
    res = embedding_search(collection=col, params=params)
    assert res["plan"]["index"] == old_index
    res["plan"]["settings"]["hnsw.ef_search"] = 1  # a caller's copy: the memoised plan is untouched
    assert first.plan.settings["hnsw.ef_search"] == 40

    with django_capture_on_commit_callbacks(execute=True):
        col = collection_update(collection=col, m=8)  # a new index, built on commit
    assert col.index_status == "pending" and col.index_name != old_index
    assert embedding_search(collection=col, params=params)["plan"]["strategy"] == "exact"  # not built yet
    col.refresh_from_db()  # built now
    res = embedding_search(collection=col, params=params)
    assert res["plan"]["index"] == col.index_name and res["plan"]["strategy"] == "hnsw"
    assert len(res["results"]) == 10

    settings.AGENCY_EMBEDDINGS_EF_SEARCH = 64  # any AGENCY_EMBEDDINGS setting clears the memo
    assert search_statement(col, params, 10).plan.settings["hnsw.ef_search"] == 64
    settings.AGENCY_EMBEDDINGS_PLAN_CACHE_SECONDS = 0  # memo off: built each time
    assert search_statement(col, params, 10) is not search_statement(col, params, 10)


FIXTURE = Path(__file__).resolve().parent / "data" / "minilm_broad.npz"


@pytest.fixture
def minilm_collection():
    """3,000 real all-MiniLM-L6-v2 vectors of docstrings (bench/minilm.py's corpus, float16) and 40 held-out queries."""
    data = np.load(FIXTURE)
    vecs, modules, kinds = data["vectors"].astype(np.float32), data["modules"], data["kinds"]
    col = collection_create(tenant_id=default_tenant_id(), name="minilm-broad", dimension=vecs.shape[1])
    items = [{"entity_type": "doc", "entity_id": str(i), "vector": v,
              "metadata": {"module": str(modules[i]), "kind": str(kinds[i])}} for i, v in enumerate(vecs)]
    embeddings_import(collection=col, items=items, chunk_size=1000)
    return collection_index_build(collection_id=col.pk, reindex=True), vecs, modules, kinds, \
        data["queries"].astype(np.float32)


@pytest.mark.parametrize(("spec", "share"), [
    ({"kind": "function"}, 0.44), ({"kind": "method"}, 0.38),
    ({"module": {"$in": ["sympy", "scipy", "django"]}}, 0.50), ({"module": {"$in": ["sympy", "numpy"]}}, 0.32),
    ({"kind": "class"}, 0.18),
])
def test_broad_filters_keep_recall_on_real_vectors(minilm_collection, settings, spec, share):
    """Broad filters (18-50% of the rows) through the iterative scan keep recall@10 >= 0.95 on real text vectors."""
    col, vecs, modules, kinds, queries = minilm_collection
    settings.AGENCY_EMBEDDINGS_EXACT_THRESHOLD = 100  # the iterative path, as in a collection of ~30K rows
    field, wanted = next(iter(spec.items()))
    values = wanted["$in"] if isinstance(wanted, dict) else [wanted]
    mask = np.isin(modules if field == "module" else kinds, values)
    assert abs(mask.mean() - share) < 0.02
    found = expected = 0
    for q in queries:
        res = embedding_search(collection=col, params=SearchParams(vector=q.astype(np.float64), k=10, filter=spec))
        plan = res["plan"]
        assert plan["strategy"] == "hnsw_iterative" and plan["settings"]["hnsw.iterative_scan"] == "relaxed_order"
        assert plan["settings"]["hnsw.ef_search"] >= max(40, math.ceil(20 / mask.mean()) - 1)
        assert plan["settings"]["hnsw.max_scan_tuples"] >= plan["settings"]["hnsw.ef_search"]
        got = [int(h["entity_id"]) for h in res["results"]]
        assert len(got) == 10 and all(mask[i] for i in got)
        truth = _truth(vecs, mask, q)
        found += len(truth & set(got))
        expected += len(truth)
    assert found / expected >= 0.95
