"""The HTTP contract: status codes, error bodies naming the problem, the database after a failure."""

from __future__ import annotations

import numpy as np
import pytest
from django.db import connection

from apps.embeddings.models import Collection, Embedding, IndexStatus
from apps.embeddings.tests.factories import clustered, items_from

pytestmark = pytest.mark.django_db

BASE = "/api/v1/collections/"


@pytest.fixture
def docs(api_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        r = api_client.post(BASE, {"name": "docs", "dimension": 8, "metric": "cosine"}, format="json")
    assert r.status_code == 201, r.json()
    return Collection.objects.get(name="docs")


def _snapshot():
    return list(Embedding.objects.order_by("id").values_list("id", "entity_id", "updated_at", "metadata"))


def test_create_builds_index_and_rejects_bad_settings(api_client, docs):
    assert docs.index_status == IndexStatus.READY
    r = api_client.get(f"{BASE}docs/")
    assert r.status_code == 200 and r.json()["index"] == "hnsw" and r.json()["index_status"] == "ready"
    r = api_client.post(BASE, {"name": "docs", "dimension": 8}, format="json")
    assert r.status_code == 409 and "already exists" in r.json()["error"]["message"]
    r = api_client.post(BASE, {"name": "wide", "dimension": 2500}, format="json")
    assert r.status_code == 400 and "dimension" in r.json()["error"]["message"]
    r = api_client.post(BASE, {"name": "l1ivf", "dimension": 8, "metric": "l1", "index": "ivfflat"}, format="json")
    assert r.status_code == 400 and "metric" in r.json()["error"]["message"]
    assert Collection.objects.count() == 1


def test_requires_authentication(client):
    assert client.get(BASE).status_code in (401, 403)


def test_ingest_upserts_and_reports_counts(api_client, docs):
    items = items_from(clustered(20, 8), metadata=[{"i": i} for i in range(20)])
    r = api_client.post(f"{BASE}docs/embeddings/", {"items": items}, format="json")
    assert r.status_code == 201 and r.json() == {"inserted": 20, "updated": 0, "unchanged": 0}
    items[0]["metadata"] = {"i": 100}
    r = api_client.post(f"{BASE}docs/embeddings/", {"items": items[:5]}, format="json")
    assert r.status_code == 200 and r.json() == {"inserted": 0, "updated": 1, "unchanged": 4}
    r = api_client.get(f"{BASE}docs/embeddings/?limit=5")
    body = r.json()
    assert body["count"] == 20 and len(body["results"]) == 5 and "vector" not in body["results"][0]


@pytest.mark.parametrize(("items", "status", "message"), [
    ("mutate_dim", 400, "items[3].vector: expected 8 dimensions, got 7"),
    ("mutate_str", 400, "items[2].vector[0]: expected a number"),
    ("mutate_zero", 400, "items[1].vector: a zero vector"),
    ("mutate_meta", 400, "items[0].metadata: expected an object"),
    ("too_many", 413, "items: at most 5 items per request, got 6"),
    ("not_a_list", 400, "items: expected a list"),
])
def test_bad_ingest_is_rejected_whole(api_client, docs, settings, items, status, message):
    settings.AGENCY_EMBEDDINGS_MAX_BATCH = 5
    api_client.post(f"{BASE}docs/embeddings/", {"items": items_from(clustered(2, 8), start=50)}, format="json")
    before = _snapshot()
    batch = items_from(clustered(5, 8))
    if items == "mutate_dim":
        batch[3]["vector"] = batch[3]["vector"][:7]
    elif items == "mutate_str":
        batch[2]["vector"][0] = "1.0"
    elif items == "mutate_zero":
        batch[1]["vector"] = [0] * 8
    elif items == "mutate_meta":
        batch[0]["metadata"] = "red"
    elif items == "too_many":
        batch = items_from(clustered(6, 8))
    elif items == "not_a_list":
        batch = {"a": 1}
    r = api_client.post(f"{BASE}docs/embeddings/", {"items": batch}, format="json")
    assert r.status_code == status, r.json()
    assert r.json()["error"]["message"].startswith(message)
    assert _snapshot() == before


def test_nan_in_json_is_rejected(api_client, docs):
    body = '{"items": [{"entity_type": "d", "entity_id": "1", "vector": [NaN, 1, 1, 1, 1, 1, 1, 1]}]}'
    r = api_client.generic("POST", f"{BASE}docs/embeddings/", body, content_type="application/json")
    assert r.status_code == 400
    assert not Embedding.objects.exists()


def test_unknown_collection_is_404(api_client):
    r = api_client.post(f"{BASE}nope/search/", {"vector": [1, 2]}, format="json")
    assert r.status_code == 404 and "collection 'nope' not found" in r.json()["error"]["message"]
    r = api_client.post(f"{BASE}nope/embeddings/", {"items": []}, format="json")
    assert r.status_code == 404


def test_search_contract(api_client, docs):
    vecs = clustered(100, 8)
    meta = [{"color": "red" if i % 10 == 0 else "blue", "i": i} for i in range(100)]
    api_client.post(f"{BASE}docs/embeddings/", {"items": items_from(vecs, metadata=meta)}, format="json")
    r = api_client.post(f"{BASE}docs/search/", {"vector": vecs[7].tolist(), "k": 3, "include": ["metadata"]},
                        format="json")
    assert r.status_code == 200, r.json()
    body = r.json()
    assert [h["entity_id"] for h in body["results"]][0] == "7"
    hit = body["results"][0]
    assert set(hit) >= {"id", "entity_type", "entity_id", "score", "distance", "metadata"} and "vector" not in hit
    assert body["plan"]["strategy"] == "hnsw"
    r = api_client.post(f"{BASE}docs/search/", {"vector": vecs[7].tolist(), "k": 5, "filter": {"color": "red"},
                                                "include": ["metadata", "vector"]}, format="json")
    body = r.json()
    assert body["plan"]["strategy"] == "exact_filtered" and body["plan"]["estimated_rows"] == 10
    assert len(body["results"]) == 5 and all(h["metadata"]["color"] == "red" for h in body["results"])
    assert len(body["results"][0]["vector"]) == 8
    r = api_client.post(f"{BASE}docs/search/", {"id": hit["id"], "k": 2}, format="json")
    assert r.status_code == 200 and hit["id"] not in [h["id"] for h in r.json()["results"]]


@pytest.mark.parametrize(("body", "status", "message"), [
    ({"vector": [1] * 8, "k": 1001}, 413, "k: at most 1000"),
    ({"vector": [1] * 8, "k": 0}, 400, "k: must be between 1 and 1000"),
    ({"vector": [1] * 7}, 400, "vector: expected 8 dimensions, got 7"),
    ({"vector": [1] * 8, "filter": {"$and": [{"a": 1}, {"color": {"$regex": "r"}}]}}, 400,
     "filter.$and[1].color: unknown operator $regex"),
    ({"vector": [1] * 8, "filter": {"color": {"$in": 3}}}, 400, "filter.color.$in: expected a list"),
    ({"vector": [1] * 8, "include": ["everything"]}, 400, "include: unknown field everything"),
    ({"vector": [1] * 8, "ef_search": "many"}, 400, "ef_search: expected an integer"),
])
def test_bad_search_names_the_problem(api_client, docs, body, status, message):
    r = api_client.post(f"{BASE}docs/search/", body, format="json")
    assert r.status_code == status
    assert r.json()["error"]["message"].startswith(message)


def test_batch_and_hybrid_search(api_client, docs):
    vecs = clustered(60, 8)
    contents = [f"note about {'postgres indexes' if i % 6 == 0 else 'cooking pasta'} number {i}" for i in range(60)]
    api_client.post(f"{BASE}docs/embeddings/", {"items": items_from(vecs, contents=contents)}, format="json")
    r = api_client.post(f"{BASE}docs/search/batch/", {"queries": [{"vector": vecs[i].tolist(), "k": 2}
                                                                   for i in (1, 2, 3)]}, format="json")
    assert r.status_code == 200
    assert [res["results"][0]["entity_id"] for res in r.json()["results"]] == ["1", "2", "3"]
    r = api_client.post(f"{BASE}docs/search/batch/", {"queries": [{"vector": vecs[1].tolist()}, {"k": 2}]},
                        format="json")
    assert r.status_code == 400 and r.json()["error"]["message"].startswith("queries[1].vector")
    r = api_client.post(f"{BASE}docs/search/", {"vector": vecs[1].tolist(), "query_text": "postgres index",
                                                "k": 5, "rrf_k": 10, "include": ["content"]}, format="json")
    body = r.json()
    assert r.status_code == 200 and body["plan"]["hybrid"]["rrf_k"] == 10
    assert any("text" in h["sources"] for h in body["results"])
    assert body["results"][0]["sources"]  # every hit says which rankings it came from
    text_hits = [h for h in body["results"] if "text" in h["sources"]]
    assert all("postgres" in h["content"] for h in text_hits)
    scores = [h["score"] for h in body["results"]]
    assert scores == sorted(scores, reverse=True)


def test_delete_endpoint(api_client, docs):
    meta = [{"color": c} for c in ["red", "blue", "red", "green"]]
    api_client.post(f"{BASE}docs/embeddings/", {"items": items_from(clustered(4, 8), metadata=meta)}, format="json")
    r = api_client.post(f"{BASE}docs/embeddings/delete/", {"filter": {"color": "red"}}, format="json")
    assert r.status_code == 200 and r.json() == {"deleted": 2}
    r = api_client.post(f"{BASE}docs/embeddings/delete/", {"filter": {"color": {"$bad": 1}}}, format="json")
    assert r.status_code == 400 and "filter.color: unknown operator $bad" in r.json()["error"]["message"]
    r = api_client.post(f"{BASE}docs/embeddings/delete/", {"entities": [{"entity_type": "doc", "entity_id": "1"}]},
                        format="json")
    assert r.json() == {"deleted": 1}
    assert list(Embedding.objects.values_list("entity_id", flat=True)) == ["3"]


def test_update_rebuild_and_stats(api_client, operator_client, docs, django_capture_on_commit_callbacks):
    old = docs.index_name
    with django_capture_on_commit_callbacks(execute=True):
        r = api_client.patch(f"{BASE}docs/", {"precision": "halfvec", "m": 8}, format="json")
    assert r.status_code == 200 and r.json()["precision"] == "halfvec"
    docs.refresh_from_db()
    assert docs.index_name != old and docs.index_status == IndexStatus.READY
    r = api_client.patch(f"{BASE}docs/", {"dimension": 4}, format="json")
    docs.refresh_from_db()
    assert docs.dimension == 8  # dimension is not updatable (not in the update serializer)
    assert api_client.post(f"{BASE}docs/rebuild-index/").status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        assert operator_client.post(f"{BASE}docs/rebuild-index/").status_code == 202
    stats = api_client.get(f"{BASE}docs/stats/").json()
    assert stats["rows"] == 0 and stats["indexes"][0]["index"] == docs.index_name


def test_delete_collection_drops_rows_and_index(api_client, docs, django_capture_on_commit_callbacks):
    api_client.post(f"{BASE}docs/embeddings/", {"items": items_from(clustered(3, 8))}, format="json")
    with django_capture_on_commit_callbacks(execute=True):
        assert api_client.delete(f"{BASE}docs/").status_code == 204
    assert not Embedding.objects.exists() and not Collection.objects.exists()
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_indexes WHERE indexname LIKE %s", [f"%{docs.id.hex}%"])
        assert cur.fetchone()[0] == 0


@pytest.mark.django_db(transaction=True)
def test_index_is_built_concurrently_after_commit(api_client):
    """Through the real request cycle: the collection commits, then CREATE INDEX CONCURRENTLY runs."""
    r = api_client.post(BASE, {"name": "live", "dimension": 4, "index": "ivfflat", "lists": 4}, format="json")
    assert r.status_code == 201
    col = Collection.objects.get(name="live")
    assert col.index_status == IndexStatus.READY
    with connection.cursor() as cur:
        cur.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [col.index_name])
        assert "ivfflat" in cur.fetchone()[0]
    r = api_client.post(f"{BASE}live/embeddings/", {"items": items_from(np.eye(4, dtype=np.float32) + 0.1)},
                        format="json")
    assert r.status_code == 201
    r = api_client.post(f"{BASE}live/search/", {"vector": [1, 0, 0, 0], "k": 2}, format="json")
    assert r.json()["plan"]["strategy"] == "ivfflat" and r.json()["results"][0]["entity_id"] == "0"
    assert api_client.delete(f"{BASE}live/").status_code == 204
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_indexes WHERE indexname = %s", [col.index_name])
        assert cur.fetchone()[0] == 0


def test_ingest_accepts_base64_float32_vectors(api_client, docs):
    import base64

    vecs = clustered(3, 8)
    b64 = [base64.b64encode(v.astype("<f4").tobytes()).decode() for v in vecs]
    items = [{"entity_type": "doc", "entity_id": str(i), "vector_b64": b} for i, b in enumerate(b64)]
    r = api_client.post(f"{BASE}docs/embeddings/", {"items": items}, format="json")
    assert r.status_code == 201 and r.json()["inserted"] == 3
    assert np.allclose(np.asarray(Embedding.objects.get(entity_id="1").vector), vecs[1])
    before = _snapshot()
    bad = [{**items[0], "entity_id": "9"}, {**items[1], "entity_id": "10", "vector_b64": "AAAA"}]
    r = api_client.post(f"{BASE}docs/embeddings/", {"items": bad}, format="json")
    assert r.status_code == 400
    assert r.json()["error"]["message"].startswith("items[1].vector_b64: expected 8 dimensions")
    nan = np.ones(8, dtype="<f4")
    nan[3] = np.nan
    bad = [{"entity_type": "doc", "entity_id": "n", "vector_b64": base64.b64encode(nan.tobytes()).decode()}]
    r = api_client.post(f"{BASE}docs/embeddings/", {"items": bad}, format="json")
    assert r.status_code == 400 and r.json()["error"]["message"] == "items[0].vector_b64[3]: NaN is not allowed"
    assert _snapshot() == before
