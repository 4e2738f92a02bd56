"""Bulk loads defer the HNSW index, searches stay complete and ordered meanwhile, and the index comes back."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from django.db import connection, connections

from apps.embeddings.models import Collection, IndexStatus
from apps.embeddings.selectors.search import SearchParams, embedding_search
from apps.embeddings.services.collections import collection_create, collection_delete
from apps.embeddings.services.indexes import collection_index_build, collection_index_build_settled
from apps.embeddings.services.ingest import bulk_load_wanted, embeddings_import, embeddings_upsert
from apps.embeddings.tests.factories import clustered, items_from
from apps.tenants.selectors import default_tenant_id

DIM = 16


def _main_index_exists(col: Collection) -> bool:
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_indexes WHERE indexname = %s", [col.index_name])
        return cur.fetchone()[0] == 1


def _ready(name: str, n: int = 0, seed: int = 1) -> tuple[Collection, np.ndarray]:
    col = collection_create(tenant_id=default_tenant_id(), name=name, dimension=DIM)
    vecs = clustered(n, DIM, seed=seed) if n else np.zeros((0, DIM), np.float32)
    if n:
        embeddings_import(collection=col, items=items_from(vecs), chunk_size=100)  # < BULK_MIN_ROWS: live path
    return collection_index_build(collection_id=col.pk), vecs


def test_bulk_load_wanted_rule(settings):
    settings.AGENCY_EMBEDDINGS_BULK_MIN_ROWS = 256
    settings.AGENCY_EMBEDDINGS_BULK_FRACTION = 0.125
    hnsw = Collection(name="r", dimension=4, index_type="hnsw")
    assert bulk_load_wanted(collection=hnsw, status=IndexStatus.READY, rows=256, existing=0)
    assert not bulk_load_wanted(collection=hnsw, status=IndexStatus.READY, rows=255, existing=0)  # small batch
    assert bulk_load_wanted(collection=hnsw, status=IndexStatus.READY, rows=1000, existing=8000)
    assert not bulk_load_wanted(collection=hnsw, status=IndexStatus.READY, rows=1000, existing=8001)
    assert bulk_load_wanted(collection=hnsw, status=IndexStatus.DEFERRED, rows=1, existing=10**6)  # already deferred
    assert not bulk_load_wanted(collection=hnsw, status=IndexStatus.BUILDING, rows=10**5, existing=0)
    ivf = Collection(name="i", dimension=4, index_type="ivfflat")
    assert not bulk_load_wanted(collection=ivf, status=IndexStatus.READY, rows=10**5, existing=0)
    binary = Collection(name="b", dimension=4, index_type="none", binary_index=True)
    assert bulk_load_wanted(collection=binary, status=IndexStatus.READY, rows=10**5, existing=0)


@pytest.mark.django_db(transaction=True)  # the drop and rebuild run CONCURRENTLY, outside a transaction
def test_import_defers_the_index_and_rebuilds_it(settings):
    settings.AGENCY_EMBEDDINGS_BULK_MIN_ROWS = 256
    col, _ = _ready("bulk-import")
    vecs = clustered(600, DIM, seed=3)
    embeddings_import(collection=col, items=items_from(vecs), chunk_size=200, build_inline=True)
    col.refresh_from_db()
    assert col.index_status == IndexStatus.READY and col.index_deferred_at is None and _main_index_exists(col)
    res = embedding_search(collection=col, params=SearchParams(vector=vecs[0].astype(np.float64), k=5))
    assert res["plan"]["strategy"] == "hnsw" and res["results"][0]["entity_id"] == "0"
    # A small batch into the (now large) collection keeps the live index.
    embeddings_import(collection=col, items=items_from(clustered(30, DIM, seed=4), start=10_000))
    col.refresh_from_db()
    assert col.index_status == IndexStatus.READY and _main_index_exists(col)
    collection_delete(collection=col)


@pytest.mark.django_db(transaction=True)
def test_api_batches_defer_the_index_until_they_settle(settings):
    settings.AGENCY_EMBEDDINGS_BULK_MIN_ROWS = 256
    settings.AGENCY_EMBEDDINGS_BULK_SETTLE_SECONDS = 30
    col, _ = _ready("bulk-api")
    vecs = clustered(700, DIM, seed=5)
    embeddings_upsert(collection=col, items=items_from(vecs[:400]))
    col.refresh_from_db()
    assert col.index_status == IndexStatus.DEFERRED and not _main_index_exists(col)
    first = col.updated_at.isoformat()
    res = embedding_search(collection=col, params=SearchParams(vector=vecs[0].astype(np.float64), k=3))
    assert res["plan"]["strategy"] == "exact" and "deferred" in res["plan"]["reason"]
    embeddings_upsert(collection=col, items=items_from(vecs[400:], start=400))  # 300 < 1/8 of 400? no: deferred
    col.refresh_from_db()
    assert col.index_status == IndexStatus.DEFERRED
    second = col.updated_at.isoformat()
    assert collection_index_build_settled(collection_id=col.pk, written_at=first) == ("superseded", 0.0)
    outcome, wait = collection_index_build_settled(collection_id=col.pk, written_at=second)
    assert outcome == "wait" and 0 < wait <= 30
    settings.AGENCY_EMBEDDINGS_BULK_SETTLE_SECONDS = 0
    assert collection_index_build_settled(collection_id=col.pk, written_at=second) == (IndexStatus.READY, 0.0)
    assert _main_index_exists(col)
    assert collection_index_build_settled(collection_id=col.pk, written_at=second) == ("done", 0.0)
    collection_delete(collection=col)


@pytest.mark.django_db(transaction=True)
def test_the_settled_rebuild_runs_on_a_real_worker(settings, celery_worker):
    """Through the broker: the batch enqueues the check, the worker waits for the settle time and builds."""
    settings.AGENCY_EMBEDDINGS_BULK_MIN_ROWS = 256
    col, _ = _ready("bulk-worker")
    embeddings_upsert(collection=col, items=items_from(clustered(300, DIM, seed=6)))
    col.refresh_from_db()
    assert col.index_status == IndexStatus.DEFERRED
    deadline = time.monotonic() + 60  # the worker's settle time (5 s by default), then the build
    while col.index_status != IndexStatus.READY and time.monotonic() < deadline:
        time.sleep(0.25)
        col.refresh_from_db()
    assert col.index_status == IndexStatus.READY and _main_index_exists(col)
    collection_delete(collection=col)


@pytest.mark.django_db(transaction=True)
def test_a_search_during_a_bulk_load_is_complete_and_ordered(settings):
    """A load in another thread (its own connection): every search meanwhile returns the exact top k of
    the rows committed so far (one of the load's chunk prefixes), in distance order, never fewer."""
    settings.AGENCY_EMBEDDINGS_BULK_MIN_ROWS = 256
    settings.AGENCY_EMBEDDINGS_PLAN_CACHE_SECONDS = 0  # every search plans from the collection's current state
    col, old = _ready("bulk-live", n=200, seed=7)
    chunk, chunks = 200, 8
    new = clustered(chunk * chunks, DIM, seed=8)
    queries = clustered(5, DIM, seed=9)
    every = np.vstack([old, new])
    normed = every / np.linalg.norm(every, axis=1, keepdims=True)
    ids = [str(i) for i in range(len(old))] + [f"n{i}" for i in range(len(new))]

    def prefix_truths(q: np.ndarray, k: int = 10) -> list[list[str]]:
        sims = normed @ (q / np.linalg.norm(q))
        out = []
        for j in range(chunks + 1):
            visible = len(old) + j * chunk
            top = np.argsort(-sims[:visible], kind="stable")[:k]
            out.append([ids[i] for i in top])
        return out

    truths = [prefix_truths(q) for q in queries]
    errors: list[BaseException] = []

    def slow_items():
        for i, v in enumerate(new):
            if i and i % chunk == 0:
                time.sleep(0.15)  # between chunks: searches land in every phase of the load
            yield {"entity_type": "doc", "entity_id": f"n{i}", "vector": v}

    def load() -> None:
        try:
            embeddings_import(collection=Collection.objects.get(pk=col.pk), items=slow_items(), chunk_size=chunk,
                              build_inline=True)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    loader = threading.Thread(target=load)
    loader.start()
    strategies, searches, prefixes = set(), 0, set()
    while loader.is_alive() or searches < 10:
        current = Collection.objects.get(pk=col.pk)
        for q, truth in zip(queries, truths, strict=True):
            res = embedding_search(collection=current, params=SearchParams(vector=q.astype(np.float64), k=10))
            got = [h["entity_id"] for h in res["results"]]
            distances = [h["distance"] for h in res["results"]]
            assert len(got) == 10 and distances == sorted(distances)
            assert got in truth, (got, res["plan"])  # the exact top 10 of some committed prefix
            prefixes.add(truth.index(got))
            strategies.add(res["plan"]["strategy"])
            searches += 1
    loader.join()
    assert not errors, errors
    assert "exact" in strategies  # some searches ran while the index was deferred or building
    assert len(prefixes) > 2  # and they saw the load progress
    col.refresh_from_db()
    assert col.index_status == IndexStatus.READY and _main_index_exists(col)
    res = embedding_search(collection=col, params=SearchParams(vector=queries[0].astype(np.float64), k=10))
    assert res["plan"]["strategy"] == "hnsw"
    collection_delete(collection=col)
