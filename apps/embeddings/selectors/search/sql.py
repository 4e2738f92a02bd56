"""The SQL of a planned search: one statement per strategy, the same cast and predicate as the collection's index."""

from __future__ import annotations

from typing import Any

import numpy as np
import psycopg

from apps.embeddings.models import Collection
from apps.embeddings.selectors.planner import Plan
from apps.embeddings.selectors.search.results import columns


def vector_literal(vector: np.ndarray) -> str:
    """The vector as pgvector's text literal (`[1.0,2.0]`), for text-bound queries and psql."""
    return "[" + ",".join(map(repr, vector.tolist())) + "]"


def search_sql(collection: Collection, plan: Plan, qvec: Any, k: int, include: set[str],
               where: str, where_params: list) -> tuple[str, list]:
    """The SQL of a planned search (the tests EXPLAIN exactly this); `qvec` is the query parameter."""
    op = collection.operator
    cols = columns(include)
    base = f"FROM embeddings_embedding WHERE {collection.predicate} AND {where}"
    if plan.strategy == "binary_rerank":
        n = int(collection.dimension)
        sql = (f"SELECT {cols}, (vector {op} %s::vector) AS distance FROM ("
               f"SELECT id, entity_type, entity_id, metadata, content, vector {base} "
               f"ORDER BY {collection.binary_expr} <~> binary_quantize(%s::vector({n}))::bit({n}) "
               f"LIMIT {int(plan.candidates)}) c ORDER BY distance LIMIT {int(k)}")
        params = [qvec, *where_params, qvec]
    elif plan.candidates:
        # A half-precision index: its top candidates (the ef_search window), re-ranked and scored over
        # the full vectors, so near-ties come back in their true order with full-precision distances.
        sql = (f"SELECT {cols}, (vector {op} %s::vector) AS distance FROM ("
               f"SELECT id, entity_type, entity_id, metadata, content, vector {base} "
               f"ORDER BY {collection.index_cast} {op} %s::{collection.index_query_cast} "
               f"LIMIT {int(plan.candidates)}) c ORDER BY distance LIMIT {int(k)}")
        params = [qvec, *where_params, qvec]
    elif plan.strategy.startswith("exact"):
        # The bare column does not match the expression index, so PostgreSQL cannot pick HNSW here.
        sql = f"SELECT {cols}, (vector {op} %s::vector) AS distance {base} ORDER BY distance LIMIT {int(k)}"
        params = [qvec, *where_params]
    else:
        # Same cast as the index expression, so the collection's partial index serves the ORDER BY.
        sql = (f"SELECT {cols}, ({collection.index_cast} {op} %s::{collection.index_query_cast}) AS distance "
               f"{base} ORDER BY distance LIMIT {int(k)}")
        params = [qvec, *where_params]
    return sql, params


def inline_filter(conn: Any, where: str, where_params: list) -> str:
    """The filter with its values as SQL literals (psycopg's quoting), `%` escaped for the outer query."""
    return psycopg.ClientCursor(conn).mogrify(where, where_params).replace("%", "%%")
