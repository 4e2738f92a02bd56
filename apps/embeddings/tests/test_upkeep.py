"""Quantization, upkeep services, the import command, the Celery task and the admin."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from apps.embeddings.models import Collection, Embedding, IndexStatus
from apps.embeddings.selectors.search import SearchParams, embedding_search
from apps.embeddings.services.collections import collection_create, collection_update
from apps.embeddings.services.indexes import collection_index_build, embeddings_analyze, index_report
from apps.embeddings.services.ingest import embeddings_import
from apps.embeddings.tests.factories import clustered, items_from
from apps.tenants.selectors import default_tenant_id

pytestmark = pytest.mark.django_db


def _recall(col, vecs, queries, **kw):
    normed = vecs / np.linalg.norm(vecs, axis=1, keepdims=True)
    hits = 0
    plans = set()
    for q in queries:
        truth = set(np.argsort(-(normed @ (q / np.linalg.norm(q))))[:10].tolist())
        res = embedding_search(collection=col, params=SearchParams(vector=q.astype(np.float64), k=10, **kw))
        plans.add(res["plan"]["strategy"])
        hits += len(truth & {int(h["entity_id"]) for h in res["results"]})
    return hits / (10 * len(queries)), plans


def test_halfvec_and_binary_rerank_keep_recall_and_report_sizes():
    dim = 64
    vecs = clustered(2000, dim, seed=21)
    queries = vecs[:15] + np.random.default_rng(2).normal(scale=0.05, size=(15, dim)).astype(np.float32)
    sizes = {}
    for name, kw in {"full": {}, "half": {"precision": "halfvec"}, "bq": {"binary_index": True}}.items():
        col = collection_create(tenant_id=default_tenant_id(), name=name, dimension=dim, **kw)
        embeddings_import(collection=col, items=items_from(vecs), chunk_size=1000)
        col = collection_index_build(collection_id=col.pk)
        recall, plans = _recall(col, vecs, queries, ef_search=100)
        assert recall >= 0.95, (name, recall)
        assert plans == ({"binary_rerank"} if name == "bq" else {"hnsw"})
        sizes[name] = {r["kind"]: r["size_bytes"] for r in index_report(collection=col)}
    # At 64 dimensions the graph's neighbour lists weigh as much as the vectors; at 768-d the
    # benchmark measures the halfvec index at about half the size.
    assert sizes["half"]["main"] < 0.85 * sizes["full"]["main"]
    assert sizes["bq"]["binary"] < sizes["full"]["main"]


def test_halfvec_is_re_ranked_over_full_vectors_so_recall_and_scores_match_the_full_index():
    dim = 64
    vecs = clustered(2000, dim, seed=23)
    queries = vecs[:20] + np.random.default_rng(3).normal(scale=0.05, size=(20, dim)).astype(np.float32)
    cols = {}
    for name, kw in {"full": {}, "half": {"precision": "halfvec"}}.items():
        col = collection_create(tenant_id=default_tenant_id(), name=name, dimension=dim, **kw)
        embeddings_import(collection=col, items=items_from(vecs), chunk_size=1000)
        cols[name] = collection_index_build(collection_id=col.pk)
    full, _ = _recall(cols["full"], vecs, queries)
    half, plans = _recall(cols["half"], vecs, queries)
    assert half >= full - 0.005 and plans == {"hnsw"}
    res = embedding_search(collection=cols["half"], params=SearchParams(vector=queries[0].astype(np.float64), k=5))
    assert res["plan"]["candidates"] == 40  # the default ef_search window
    q = queries[0] / np.linalg.norm(queries[0])
    for hit in res["results"]:  # full-precision distances, not half-precision ones (off by ~1e-3)
        v = vecs[int(hit["entity_id"])]
        assert hit["distance"] == pytest.approx(1 - float(v @ q) / float(np.linalg.norm(v)), abs=1e-5)
    filtered = embedding_search(collection=cols["half"], params=SearchParams(
        vector=queries[0].astype(np.float64), k=5, filter={"entity_type": "doc"}))
    assert [h["entity_id"] for h in filtered["results"]] == [h["entity_id"] for h in res["results"]]


def test_l2_inner_product_and_l1_metrics_search_correctly():
    vecs = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [2, 2, 0]], dtype=np.float32)
    for metric, best, score in [("l2", "0", 1.0), ("inner_product", "3", 2.0), ("l1", "0", 1.0)]:
        col = collection_create(tenant_id=default_tenant_id(), name=f"m-{metric}", dimension=3, metric=metric)
        col = collection_index_build(collection_id=col.pk)
        embeddings_import(collection=col, items=items_from(vecs))
        res = embedding_search(collection=col, params=SearchParams(vector=np.array([1.0, 0, 0]), k=4))
        assert res["results"][0]["entity_id"] == best, metric
        assert res["results"][0]["score"] == pytest.approx(score)


def test_analyze_and_rebuild_keep_the_index_valid():
    col = collection_create(tenant_id=default_tenant_id(), name="r", dimension=4)
    col = collection_index_build(collection_id=col.pk)
    embeddings_import(collection=col, items=items_from(np.eye(4, dtype=np.float32) + 0.1))
    embeddings_analyze()
    col = collection_index_build(collection_id=col.pk, reindex=True)
    assert col.index_status == IndexStatus.READY
    assert index_report(collection=col)[0]["valid"] is True
    collection_update(collection=col, index_type="none")  # drops the index on rebuild
    collection_index_build(collection_id=col.pk)
    assert index_report(collection=col) == []
    assert collection_index_build(collection_id="00000000-0000-0000-0000-000000000000") is None


def test_import_command_jsonl_and_npy(tmp_path):
    col = collection_create(tenant_id=default_tenant_id(), name="imp", dimension=4)
    collection_index_build(collection_id=col.pk)
    vecs = clustered(30, 4)
    jsonl = tmp_path / "items.jsonl"
    jsonl.write_text("\n".join(json.dumps(i) for i in items_from(vecs, metadata=[{"i": i} for i in range(30)])))
    call_command("import_embeddings", "imp", str(jsonl), "--chunk-size", "7", "--no-progress")
    assert Embedding.objects.filter(collection=col).count() == 30
    npy = tmp_path / "v.npy"
    np.save(npy, vecs[:5] * 2)
    meta = tmp_path / "meta.jsonl"
    meta.write_text("\n".join(json.dumps({"entity_type": "doc", "entity_id": str(i)}) for i in range(5)))
    call_command("import_embeddings", "imp", str(npy), "--metadata", str(meta), "--no-progress")
    row = Embedding.objects.get(collection=col, entity_id="0")
    assert np.allclose(np.asarray(row.vector), vecs[0] * 2, rtol=1e-5)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"entity_type": "doc", "entity_id": "x", "vector": [1, 2]}))
    with pytest.raises(CommandError, match="expected 4 dimensions, got 2"):
        call_command("import_embeddings", "imp", str(bad), "--no-progress")
    with pytest.raises(CommandError, match="not found"):
        call_command("import_embeddings", "missing", str(jsonl), "--no-progress")
    assert Embedding.objects.filter(collection=col).count() == 30


def test_vectors_stay_inline_not_toasted():
    """toast_tuple_target keeps 768-d vectors (3 KB) in the heap page: exact scans avoid TOAST."""
    col = collection_create(tenant_id=default_tenant_id(), name="wide", dimension=768, index_type="none")
    embeddings_import(collection=col, items=items_from(np.random.default_rng(0).normal(size=(20, 768))))
    with connection.cursor() as cur:  # the TOAST table's size: reading it needs a superuser
        cur.execute("SELECT pg_relation_size(reltoastrelid) FROM pg_class WHERE relname = 'embeddings_embedding'")
        assert cur.fetchone()[0] == 0


@pytest.mark.django_db(transaction=True)
def test_build_index_task_runs_on_a_real_worker(celery_worker):
    from apps.embeddings.tasks import collection_index_build_task

    col = Collection.objects.create(tenant_id=default_tenant_id(), name="queued", dimension=4,
                                    index_status=IndexStatus.PENDING)
    result = collection_index_build_task.delay(str(col.pk))
    assert result.get(timeout=60) == "ready"
    col.refresh_from_db()
    assert col.index_status == IndexStatus.READY
    deadline = time.monotonic() + 5
    while not index_report(collection=col) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert index_report(collection=col)[0]["index"] == col.index_name
    col_id, name = col.pk, col.index_name
    col.delete()
    from apps.embeddings.services.indexes import collection_indexes_drop

    assert collection_indexes_drop(collection_id=col_id) == [name]


def test_admin_pages(client, operator):
    client.force_login(operator)
    col = collection_create(tenant_id=default_tenant_id(), name="adm", dimension=4)
    collection_index_build(collection_id=col.pk)
    embeddings_import(collection=col, items=items_from(np.eye(4, dtype=np.float32) + 0.1, metadata=[{"a": 1}] * 4))
    r = client.get("/admin/embeddings/collection/")
    assert r.status_code == 200 and b"adm" in r.content and b"ready" in r.content
    r = client.get(f"/admin/embeddings/collection/{col.pk}/change/")
    assert r.status_code == 200 and col.index_name.encode() in r.content
    r = client.get(f"/admin/embeddings/embedding/?collection__id__exact={col.pk}")
    assert r.status_code == 200 and b"0.1" not in r.content  # no vectors in the list
    r = client.post("/admin/embeddings/collection/", {"action": "rebuild_index", "_selected_action": [str(col.pk)]})
    assert r.status_code == 302
    col.refresh_from_db()
    assert col.index_status == IndexStatus.PENDING  # rebuild scheduled after commit


@pytest.mark.django_db(transaction=True)  # invalidations run at once, as outside any request transaction
def test_an_index_status_change_reaches_both_cached_forms_of_the_collection():
    """Status updates are queryset updates (no signals): the by-id and by-name cache entries are both dropped."""
    from apps.embeddings.selectors.collections import collection_get
    from apps.embeddings.services.collections import collection_delete
    from apps.embeddings.services.indexes import _set_status
    from apps.platform.cache import instance_get

    col = collection_create(tenant_id=default_tenant_id(), name="cached", dimension=4)
    collection_index_build(collection_id=col.pk)
    # now cached by name
    assert collection_get(tenant_id=default_tenant_id(), name="cached").index_status == IndexStatus.READY
    assert instance_get(Collection, col.pk).index_status == IndexStatus.READY  # and by id
    _set_status(col, IndexStatus.FAILED, "disk full")
    assert collection_get(tenant_id=default_tenant_id(), name="cached").index_status == IndexStatus.FAILED
    assert instance_get(Collection, col.pk).index_error == "disk full"
    collection_delete(collection=col)  # drops its index too (a schema object the test flush would keep)


def test_the_admin_add_form_answers_a_quota_refusal_with_its_message(client, operator):
    from apps.tenants.tests.factories import TenantFactory

    tenant = TenantFactory(max_collections=0)
    client.force_login(operator)
    form = {"tenant": tenant.pk, "name": "over", "dimension": 4, "metric": "cosine", "index_type": "hnsw",
            "m": 16, "ef_construction": 100, "lists": 100, "precision": "vector"}
    r = client.post("/admin/embeddings/collection/add/", form, follow=True)
    assert r.status_code == 200
    assert r.redirect_chain == [("/admin/embeddings/collection/add/", 302)]  # back to the form, no 500
    assert [str(m) for m in r.context["messages"]] == ["max_collections: 0 allowed, 0 exist, this collection adds 1"]
    assert not Collection.objects.filter(tenant=tenant).exists()
