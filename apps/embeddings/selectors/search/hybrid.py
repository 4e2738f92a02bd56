"""Hybrid search: PostgreSQL full-text rank fused with the vector rank by Reciprocal Rank Fusion; text-only search."""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connection

from apps.embeddings.models import Collection
from apps.embeddings.selectors.filters import filter_where
from apps.embeddings.selectors.search.requests import MAX_K, SearchParams
from apps.embeddings.selectors.search.results import columns, hit
from apps.embeddings.selectors.search.sql import vector_literal
from apps.embeddings.selectors.search.vector import vector_search


def _text_ranked(collection: Collection, text: str, n: int, where: str, where_params: list) -> list[str]:
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT e.id FROM embeddings_embedding e, websearch_to_tsquery('english', %s) q "
            f"WHERE e.{collection.predicate} AND e.content_tsv @@ q AND {where} "
            f"ORDER BY ts_rank_cd(e.content_tsv, q) DESC, e.id LIMIT {int(n)}",
            [text, *where_params],
        )
        return [str(r[0]) for r in cur.fetchall()]


def _fetch(collection: Collection, ids: list[str], include: set[str], vector: np.ndarray | None) -> dict[str, dict]:
    cols = columns(include)
    dist = f"(vector {collection.operator} %s::vector)" if vector is not None else "'NaN'::float8"
    params: list[Any] = ([vector_literal(vector)] if vector is not None else []) + [[uuid.UUID(i) for i in ids]]
    with connection.cursor() as cur:
        cur.execute(f"SELECT {cols}, {dist} FROM embeddings_embedding WHERE {collection.predicate} AND id = ANY(%s)",
                    params)
        out = {}
        for row in cur.fetchall():
            found = hit(collection, row, include)
            if vector is None:
                found["distance"] = found["score"] = None
            out[found["id"]] = found
        return out


def hybrid_search(collection: Collection, params: SearchParams, vector: np.ndarray) -> dict[str, Any]:
    """Reciprocal Rank Fusion of the vector ranking and the full-text ranking (each hit lists its sources)."""
    rrf_k = params.rrf_k or settings.AGENCY_EMBEDDINGS_RRF_K
    n = min(MAX_K, max(params.k * 2, 50))
    sub = SearchParams(vector=vector, k=n, threshold=params.threshold, filter=params.filter,
                       ef_search=params.ef_search, probes=params.probes, exact=params.exact)
    vec = vector_search(collection, sub, vector, None)
    where, where_params = filter_where(params.filter)
    text_ids = _text_ranked(collection, params.query_text or "", n, where, where_params)
    fused: dict[str, dict[str, Any]] = {}
    for source, ids in (("vector", [h["id"] for h in vec["results"]]), ("text", text_ids)):
        for rank, hid in enumerate(ids, start=1):
            entry = fused.setdefault(hid, {"rrf": 0.0, "sources": {}})
            entry["rrf"] += 1.0 / (rrf_k + rank)
            entry["sources"][source] = rank
    top = sorted(fused.items(), key=lambda kv: (-kv[1]["rrf"], kv[0]))[: params.k]
    details = _fetch(collection, [hid for hid, _ in top], params.include, vector)
    results = []
    for hid, entry in top:
        found = details[hid]
        found["score"] = entry["rrf"]
        found["sources"] = entry["sources"]
        results.append(found)
    plan = vec["plan"]
    plan["hybrid"] = {"rrf_k": rrf_k, "candidates": n, "vector_hits": len(vec["results"]), "text_hits": len(text_ids)}
    return {"results": results, "plan": plan}


def text_search(collection: Collection, params: SearchParams) -> dict[str, Any]:
    """Full-text search alone (`query_text` without a vector or id), ranked by ts_rank_cd."""
    where, where_params = filter_where(params.filter)
    ids = _text_ranked(collection, params.query_text or "", params.k, where, where_params)
    details = _fetch(collection, ids, params.include, None)
    results = []
    for rank, hid in enumerate(ids, start=1):
        found = details[hid]
        found["sources"] = {"text": rank}
        results.append(found)
    return {"results": results, "plan": {"strategy": "full_text", "estimated_rows": None}}
