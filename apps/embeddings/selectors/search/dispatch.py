"""The search entry points: one request routed to vector, hybrid or full-text search; many in one batch."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from apps.common.errors import PayloadTooLarge, ValidationFailed
from apps.embeddings.models import Collection
from apps.embeddings.selectors.search.hybrid import hybrid_search, text_search
from apps.embeddings.selectors.search.requests import SearchParams, search_params_parse
from apps.embeddings.selectors.search.vector import query_vector, vector_search


def embedding_search(*, collection: Collection, params: SearchParams) -> dict[str, Any]:
    """The k nearest embeddings (optionally filtered), and the plan that found them."""
    if params.vector is None and params.id is None:
        return text_search(collection, params)
    vector, self_id = query_vector(collection, params)
    if params.query_text:
        return hybrid_search(collection, params, vector)
    return vector_search(collection, params, vector, self_id)


def embedding_search_batch(*, collection: Collection, queries: Any) -> list[dict[str, Any]]:
    """Many searches in one request: every query is validated before any runs."""
    limit = settings.AGENCY_EMBEDDINGS_MAX_BATCH_QUERIES
    if not isinstance(queries, list) or not queries:
        raise ValidationFailed("queries: expected a non-empty list of search requests", code="invalid_search")
    if len(queries) > limit:
        raise PayloadTooLarge(f"queries: at most {limit} queries per request, got {len(queries)}",
                              code="batch_too_large")
    parsed = [search_params_parse(q, collection=collection, root=f"queries[{i}].") for i, q in enumerate(queries)]
    return [embedding_search(collection=collection, params=p) for p in parsed]
