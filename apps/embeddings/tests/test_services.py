"""Collections, index builds, ingest and search through the services, on the real PostgreSQL."""

from __future__ import annotations

import numpy as np
import pytest
from django.db import connection, transaction
from django.db.models.expressions import RawSQL

from apps.common.errors import Conflict, NotFound, PayloadTooLarge, ValidationFailed
from apps.embeddings.models import Collection, Embedding, IndexStatus
from apps.embeddings.selectors.planner import plan_search
from apps.embeddings.selectors.search import (
    SearchParams,
    embedding_search,
    search_explain,
    search_params_parse,
    search_sql,
    search_statement,
    statements,
    vector_literal,
)
from apps.embeddings.services.collections import collection_create, collection_delete, collection_update
from apps.embeddings.services.deletion import embeddings_delete
from apps.embeddings.services.indexes import collection_index_build, embeddings_analyze, index_report
from apps.embeddings.services.ingest import embeddings_import, embeddings_upsert
from apps.embeddings.tests.factories import clustered, items_from
from apps.platform.db.settings import set_local
from apps.platform.db.vectors import vector_cursor
from apps.tenants.selectors import default_tenant_id

pytestmark = pytest.mark.django_db


def make(name="docs", dim=8, build=True, **kw) -> Collection:
    col = collection_create(tenant_id=default_tenant_id(), name=name, dimension=dim, **kw)
    if build:
        col = collection_index_build(collection_id=col.pk)
    return col


def index_names(col: Collection) -> list[str]:
    with connection.cursor() as cur:
        cur.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'embeddings_embedding' AND indexname LIKE %s",
                    [f"%{col.id.hex}%"])
        return sorted(r[0] for r in cur.fetchall())


def test_collection_create_validates_hnsw_dimension_limits():
    with pytest.raises(Exception, match="at most 2000"):
        collection_create(tenant_id=default_tenant_id(), name="big", dimension=2001)
    col = collection_create(tenant_id=default_tenant_id(), name="big-half", dimension=3000, precision="halfvec")
    assert col.dimension == 3000
    with pytest.raises(Exception, match="at most 4000"):
        collection_create(tenant_id=default_tenant_id(), name="bigger", dimension=4001, precision="halfvec")
    huge = collection_create(tenant_id=default_tenant_id(), name="huge", dimension=16000, index_type="none")
    assert huge.index_status == IndexStatus.NONE
    with pytest.raises(Exception, match="16000"):
        collection_create(tenant_id=default_tenant_id(), name="too-huge", dimension=16001, index_type="none")
    with pytest.raises(Conflict):
        collection_create(tenant_id=default_tenant_id(), name="huge", dimension=4, index_type="none")
    assert set(Collection.objects.values_list("name", flat=True)) == {"big-half", "huge"}


def test_index_is_built_per_collection_and_dropped_with_it(django_capture_on_commit_callbacks):
    col = make(dim=8)
    names = index_names(col)
    assert names == [col.index_name]
    assert col.index_status == IndexStatus.READY
    with connection.cursor() as cur:
        cur.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [col.index_name])
        ddl = cur.fetchone()[0]
    assert "hnsw" in ddl and "vector_cosine_ops" in ddl and str(col.id) in ddl and "vector(8)" in ddl
    hex_id = col.id.hex
    with django_capture_on_commit_callbacks(execute=True):
        collection_delete(collection=col)
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_indexes WHERE indexname LIKE %s", [f"%{hex_id}%"])
        assert cur.fetchone()[0] == 0


def test_index_rebuilt_under_new_name_when_params_change(django_capture_on_commit_callbacks):
    col = make(dim=8)
    old = col.index_name
    with django_capture_on_commit_callbacks(execute=True):
        collection_update(collection=col, m=8, precision="halfvec")
    col.refresh_from_db()
    assert col.index_name != old
    assert index_names(col) == [col.index_name]
    assert col.index_status == IndexStatus.READY


def test_search_uses_the_collections_partial_index_per_explain():
    """On a small, freshly loaded collection PostgreSQL alone may sort the rows (exact); the
    statement's settings (enable_sort off where it would) make the query the service runs use the
    collection's own index either way."""
    col = make(dim=8)
    other = make(name="other", dim=8, precision="halfvec")
    vecs = clustered(300, 8)
    embeddings_upsert(collection=col, items=items_from(vecs))
    embeddings_upsert(collection=other, items=items_from(vecs))
    q = vecs[0].astype(np.float64)
    text = search_explain(collection=col, params=SearchParams(vector=q, k=10))
    assert f"Index Scan using {col.index_name}" in text
    text = search_explain(collection=other, params=SearchParams(vector=q, k=10))
    assert f"Index Scan using {other.index_name}" in text and col.index_name not in text
    # The exact strategy must NOT be served by the HNSW index (that is the filtered-search trap).
    assert col.index_name not in search_explain(collection=col, params=SearchParams(vector=q, k=10, exact=True))
    # A filter planned as iterative uses the index too.
    text = search_explain(collection=col, params=SearchParams(vector=q, k=10, filter={"entity_type": "doc"}))
    assert col.index_name not in text  # 300 matches <= threshold: exact over them
    result = embedding_search(collection=col, params=SearchParams(vector=q, k=10))
    assert result["plan"]["strategy"] == "hnsw" and result["plan"]["index"] == col.index_name
    assert len(result["results"]) == 10
    assert result["results"][0]["entity_id"] == "0" and result["results"][0]["score"] == pytest.approx(1, abs=1e-5)
    # The same SQL with the raw literal, as an operator would paste it into psql:
    plan = plan_search(col, k=10, exact=False, filtered=False, where="TRUE", where_params=[])
    sql, sql_params = search_sql(col, plan, vector_literal(q), 10, set(), "TRUE", [])
    assert sql.count(col.index_cast) == 1 and col.predicate in sql


def _index_used_unaided(col: Collection, q: np.ndarray) -> bool:
    """Whether PostgreSQL scans the collection's index for the search's SQL with enable_sort on."""
    statement = search_statement(col, SearchParams(vector=q, k=10), 10)
    with transaction.atomic(), vector_cursor() as cur:
        set_local(cur, {**statement.gucs, "enable_sort": "on"})
        cur.execute("EXPLAIN " + statement.sql, [q.astype(np.float32)] * statement.vectors)
        return any(col.index_name in row[0] for row in cur.fetchall())


def test_enable_sort_is_sent_only_where_postgresql_would_not_use_the_index_unaided(settings):
    """Fresh, then analyzed: whichever PostgreSQL picks alone, the plan forces the index exactly when
    it would not use it (a planner setting costs each search a pipeline), and the search uses it."""
    settings.AGENCY_EMBEDDINGS_PLAN_CACHE_SECONDS = 0  # every statement planned (and PostgreSQL asked) anew
    col = make(dim=8)
    vecs = clustered(300, 8)
    embeddings_upsert(collection=col, items=items_from(vecs))
    q = vecs[0].astype(np.float64)
    params = SearchParams(vector=q, k=10)
    for _ in ("fresh", "analyzed"):
        statement = search_statement(col, params, 10)
        forced = statement.plan.settings.get("enable_sort") == "off"
        assert statement.gucs["enable_sort"] == ("off" if forced else "on")
        assert forced == (not _index_used_unaided(col, q))
        assert f"Index Scan using {col.index_name}" in search_explain(collection=col, params=params)
        embeddings_analyze()


@pytest.mark.django_db(transaction=True)  # autocommit, as a request outside an atomic block
@pytest.mark.parametrize("forced", [True, False])
def test_the_orm_query_after_a_search_runs_with_enable_sort_on(monkeypatch, settings, forced):
    """pgvector's settings stay on the session (only vector index scans read them, and every search sets
    them all); enable_sort, which any query's plan reads, holds for the search's statement only."""
    settings.AGENCY_EMBEDDINGS_BULK_MIN_ROWS = 10**6  # keep the index live (test_bulk.py covers deferral)
    monkeypatch.setattr(statements, "index_needs_forcing", lambda collection, statement: forced)
    col = make(dim=8)
    vecs = clustered(300, 8)
    embeddings_upsert(collection=col, items=items_from(vecs))
    q = vecs[0].astype(np.float64)
    result = embedding_search(collection=col, params=SearchParams(vector=q, k=10, ef_search=57))
    assert result["plan"]["strategy"] == "hnsw" and len(result["results"]) == 10
    assert result["plan"]["settings"] == {"hnsw.ef_search": 57, **({"enable_sort": "off"} if forced else {})}
    seen = Embedding.objects.filter(collection=col).annotate(
        sort=RawSQL("current_setting('enable_sort')", ()), ef=RawSQL("current_setting('hnsw.ef_search')", ()),
    ).values_list("sort", "ef").first()
    assert seen == ("on", "57")  # the session's enable_sort; ef_search left as the search set it
    if forced:  # unforced, PostgreSQL may sort these 300 rows instead (its choice; the verdict is patched here)
        plan = search_explain(collection=col, params=SearchParams(vector=q, k=10))
        assert f"Index Scan using {col.index_name}" in plan


def test_recall_at_10_against_numpy_exact():
    dim = 64
    col = make(dim=dim, m=16, ef_construction=64)
    vecs = clustered(3000, dim)
    embeddings_import(collection=col, items=items_from(vecs), chunk_size=1000)
    col = collection_index_build(collection_id=col.pk, reindex=True)
    rng = np.random.default_rng(1)
    queries = vecs[rng.choice(len(vecs), 20, replace=False)] + rng.normal(scale=0.05, size=(20, dim)).astype(np.float32)
    normed = vecs / np.linalg.norm(vecs, axis=1, keepdims=True)
    hits = 0
    for q in queries:
        truth = set(np.argsort(-(normed @ (q / np.linalg.norm(q))))[:10].tolist())
        res = embedding_search(collection=col, params=SearchParams(vector=q.astype(np.float64), k=10, ef_search=80))
        assert res["plan"]["strategy"] == "hnsw"
        hits += len(truth & {int(h["entity_id"]) for h in res["results"]})
    assert hits / 200 >= 0.95


def test_upsert_counts_inserted_updated_unchanged():
    col = make(dim=4)
    items = items_from(np.eye(4, dtype=np.float32) + 0.1)
    assert embeddings_upsert(collection=col, items=items).as_dict() == {"inserted": 4, "updated": 0, "unchanged": 0}
    items[0]["metadata"] = {"a": 1}
    assert embeddings_upsert(collection=col, items=items).as_dict() == {"inserted": 0, "updated": 1, "unchanged": 3}
    more = items + items_from(np.ones((1, 4), dtype=np.float32), start=10)
    assert embeddings_upsert(collection=col, items=more).as_dict() == {"inserted": 1, "updated": 0, "unchanged": 4}
    assert Embedding.objects.filter(collection=col).count() == 5
    assert Embedding.objects.get(collection=col, entity_id="0").metadata == {"a": 1}


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda items: items[3].update(vector=[1.0] * 3), "items[3].vector: expected 4 dimensions, got 3"),
        (lambda items: items[1]["vector"].__setitem__(2, float("nan")), "items[1].vector[2]: NaN is not allowed"),
        (lambda items: items[2]["vector"].__setitem__(0, float("inf")), "items[2].vector[0]: infinity is not allowed"),
        (lambda items: items[0]["vector"].__setitem__(1, "x"), "items[0].vector[1]: expected a number"),
        (lambda items: items[4].update(vector=[0, 0, 0, 0]), "items[4].vector: a zero vector has no direction"),
        (lambda items: items[2].update(metadata=[1]), "items[2].metadata: expected an object"),
        (lambda items: items[1].update(entity_id=""), "items[1].entity_id: expected a non-empty string"),
        (lambda items: items[4].update(entity_id="0"), "items[4]: duplicate of items[0]"),
        (lambda items: items[3].pop("vector"), "items[3].vector: required"),
        (lambda items: items.__setitem__(2, "nope"), "items[2]: expected an object"),
    ],
)
def test_bad_batches_are_rejected_whole_and_nothing_is_written(mutate, message):
    col = make(dim=4)
    embeddings_upsert(collection=col, items=items_from(np.full((1, 4), 0.5, dtype=np.float32), start=100))
    before = list(Embedding.objects.order_by("id").values_list("id", "updated_at"))
    items = items_from(np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32))
    mutate(items)
    with pytest.raises(ValidationFailed) as err:
        embeddings_upsert(collection=col, items=items)
    assert message in err.value.message
    assert list(Embedding.objects.order_by("id").values_list("id", "updated_at")) == before


def test_oversized_batch_is_413():
    col = make(dim=4)
    with pytest.raises(PayloadTooLarge, match="at most 3 items"):
        embeddings_upsert(collection=col, items=items_from(np.ones((4, 4), dtype=np.float32)), max_items=3)
    assert not Embedding.objects.exists()


def test_delete_by_ids_entities_and_filter():
    col = make(dim=4)
    meta = [{"color": c} for c in ["red", "red", "blue", "green", "blue"]]
    embeddings_upsert(collection=col, items=items_from(np.ones((5, 4), dtype=np.float32) + np.eye(5, 4), metadata=meta))
    first = Embedding.objects.get(collection=col, entity_id="0")
    assert embeddings_delete(collection=col, ids=[str(first.pk)]) == 1
    assert embeddings_delete(collection=col, entities=[{"entity_type": "doc", "entity_id": "4"}]) == 1
    assert embeddings_delete(collection=col, filter={"color": "red"}) == 1
    assert sorted(Embedding.objects.values_list("entity_id", flat=True)) == ["2", "3"]
    with pytest.raises(ValidationFailed, match=r"filter.color: unknown operator \$regex"):
        embeddings_delete(collection=col, filter={"color": {"$regex": "x"}})
    assert Embedding.objects.count() == 2


def test_more_like_this_excludes_itself_and_threshold_cuts():
    col = make(dim=8)
    vecs = clustered(200, 8)
    embeddings_upsert(collection=col, items=items_from(vecs))
    target = Embedding.objects.get(collection=col, entity_id="5")
    res = embedding_search(collection=col, params=SearchParams(id=target.pk, k=5))
    assert len(res["results"]) == 5 and all(h["id"] != str(target.pk) for h in res["results"])
    res = embedding_search(collection=col, params=SearchParams(vector=vecs[5].astype(np.float64), k=50, threshold=0.99))
    assert res["results"] and all(h["score"] >= 0.99 for h in res["results"])
    with pytest.raises(NotFound):
        embedding_search(collection=col, params=SearchParams(id="00000000-0000-0000-0000-000000000000", k=5))


def test_search_params_name_the_bad_field():
    col = make(dim=4, build=False)
    for body, message in [
        ({"vector": [1, 2, 3], "k": 5}, "vector: expected 4 dimensions, got 3"),
        ({"vector": [1, 2, 3, 4], "k": 0}, "k: must be between 1 and 1000"),
        ({"vector": [1, 2, 3, 4], "filter": {"$and": [{}, {"c": {"$regex": 1}}]}},
         "filter.$and[1].c: unknown operator"),
        ({"vector": [1, 2, 3, 4], "include": ["secret"]}, "include: unknown field secret"),
        ({"k": 5}, "vector: give exactly one of vector or id"),
    ]:
        with pytest.raises(ValidationFailed) as err:
            search_params_parse(body, collection=col)
        assert message in err.value.message
    with pytest.raises(PayloadTooLarge):
        search_params_parse({"vector": [1, 2, 3, 4], "k": 1001}, collection=col)


def test_index_report_lists_size_and_usage():
    col = make(dim=8)
    report = index_report(collection=col)
    assert [r["index"] for r in report] == [col.index_name]
    assert report[0]["size_bytes"] > 0 and report[0]["valid"] is True


def test_direct_copy_path_backs_off_on_a_key_collision():
    """The fresh-rows fast path must leave nothing behind when a key already exists (a racing writer)."""
    from apps.embeddings.services.ingest import _copy_direct
    from apps.embeddings.validation import embeddings_validate
    from apps.platform.db.vectors import vector_cursor

    col = make(dim=4)
    embeddings_upsert(collection=col, items=items_from(np.ones((1, 4), dtype=np.float32), start=1))
    batch = embeddings_validate(collection=col, items=items_from(np.ones((3, 4), dtype=np.float32)))
    with vector_cursor() as cur:
        assert _copy_direct(cur, col, batch) is False
    assert list(Embedding.objects.values_list("entity_id", flat=True)) == ["1"]
    assert embeddings_upsert(collection=col, items=items_from(np.full((3, 4), 2, dtype=np.float32))).as_dict() == {
        "inserted": 2, "updated": 1, "unchanged": 0}


def test_existing_key_outside_the_probe_sample_is_still_an_update():
    """The existence probe samples keys; a key it skipped collides in the direct COPY, which backs off."""
    from apps.embeddings.services.ingest import _PROBE_KEYS

    col = make(dim=4)
    n = _PROBE_KEYS * 4
    rows = np.arange(1, 4 * n + 1, dtype=np.float32).reshape(n, 4)
    embeddings_upsert(collection=col, items=items_from(rows[1:2], start=1))  # item 1: not in the sample
    result = embeddings_upsert(collection=col, items=items_from(rows + 1))
    assert result.as_dict() == {"inserted": n - 1, "updated": 1, "unchanged": 0}
    assert Embedding.objects.filter(collection=col).count() == n
    assert Embedding.objects.get(collection=col, entity_id="1").vector.tolist() == (rows[1] + 1).tolist()


def test_numpy_rows_are_checked_in_bulk_and_still_named():
    col = make(dim=4)
    rows = np.ones((6, 4), dtype=np.float32)
    rows[2, 1] = np.nan
    rows[4] = 0
    items = [{"entity_type": "doc", "entity_id": str(i), "vector": rows[i]} for i in range(6)]
    with pytest.raises(ValidationFailed) as err:
        embeddings_upsert(collection=col, items=items)
    assert err.value.message == "items[2].vector[1]: NaN is not allowed"
    assert "items[4].vector: a zero vector has no direction (cosine distance is undefined)" in (
        err.value.details["errors"])
    big = np.full(4, 1e300)
    with pytest.raises(ValidationFailed, match=r"items\[0\].vector\[0\]: out of float32 range"):
        embeddings_upsert(collection=col, items=[{"entity_type": "d", "entity_id": "x", "vector": big}])
    assert not Embedding.objects.exists()


def test_binary_copy_round_trips_every_field_exactly():
    """The bulk COPY encoder: non-ASCII text, NULL and non-NULL content, nested metadata, exact float32
    vectors, fresh version-4 UUIDs and one timestamp, on both the direct path and the staging (update) path."""
    import uuid

    col = make(dim=4, build=False)
    vectors = np.array([[0.1, -2.5, 3.0e-8, 1e30], [1, 2, 3, 4]], dtype=np.float32)
    items = [
        {"entity_type": "doc", "entity_id": "naïve-日本-😀", "vector": vectors[0].tolist(),
         "content": "Grüße, 世界", "metadata": {"tags": ["ä", 1, None, True], "nested": {"x": 1.5}}},
        {"entity_type": "note", "entity_id": "2", "vector": vectors[1].tolist()},
    ]
    assert embeddings_upsert(collection=col, items=items).as_dict() == {"inserted": 2, "updated": 0, "unchanged": 0}
    rows = {e.entity_id: e for e in Embedding.objects.filter(collection=col)}
    first, second = rows["naïve-日本-😀"], rows["2"]
    assert first.content == "Grüße, 世界" and second.content is None
    assert first.metadata == {"tags": ["ä", 1, None, True], "nested": {"x": 1.5}} and second.metadata == {}
    assert np.array_equal(np.asarray(first.vector, dtype=np.float32), vectors[0])
    assert first.id.version == 4 and first.id != second.id and isinstance(first.id, uuid.UUID)
    assert first.created_at == first.updated_at == second.created_at

    items[0]["content"], items[0]["metadata"] = None, {"clé": "värde"}
    items[1]["vector"] = [4, 3, 2, 1]
    assert embeddings_upsert(collection=col, items=items).as_dict() == {"inserted": 0, "updated": 2, "unchanged": 0}
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.content is None and first.metadata == {"clé": "värde"}
    assert list(second.vector) == [4.0, 3.0, 2.0, 1.0]
