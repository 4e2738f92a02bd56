"""A search request validated into SearchParams: fast (no per-element serializer), naming the bad field."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from apps.common.errors import PayloadTooLarge, ValidationFailed
from apps.common.validation import text_check
from apps.embeddings.models import Collection
from apps.embeddings.selectors.filters import filter_compile
from apps.embeddings.validation import vector_error

INCLUDE = {"metadata", "vector", "content"}
MAX_K = 1000
MAX_EF = 1000


@dataclass
class SearchParams:
    """A validated search request (search_params_parse); Python callers build one directly."""

    vector: np.ndarray | None = None
    id: uuid.UUID | None = None
    k: int = 10
    threshold: float | None = None
    filter: dict | None = None
    include: set[str] = field(default_factory=set)
    ef_search: int | None = None
    probes: int | None = None
    exact: bool = False
    query_text: str | None = None
    rrf_k: int | None = None


def _int(data: dict, key: str, path: str, lo: int, hi: int, default: int | None) -> int | None:
    value = data.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationFailed(f"{path}{key}: expected an integer", code="invalid_search")
    if not lo <= value <= hi:
        raise ValidationFailed(f"{path}{key}: must be between {lo} and {hi}, got {value}", code="invalid_search")
    return value


def search_params_parse(data: Any, *, collection: Collection, root: str = "") -> SearchParams:
    """Validate a search request (fast: no per-element serializer), naming the bad field."""
    if not isinstance(data, dict):
        raise ValidationFailed(f"{root or 'body'}: expected an object", code="invalid_search")
    known = {"vector", "id", "k", "threshold", "filter", "include", "ef_search", "probes", "exact",
             "query_text", "rrf_k"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValidationFailed(f"{root}{unknown[0]}: unknown field", code="invalid_search")
    p = SearchParams()
    if data.get("vector") is not None:
        error, _ = vector_error(data["vector"], collection, f"{root}vector")
        if error:
            raise ValidationFailed(error, code="invalid_search")
        p.vector = np.asarray(data["vector"], dtype=np.float64)
    if data.get("id") is not None:
        try:
            p.id = uuid.UUID(str(data["id"]))
        except ValueError:
            raise ValidationFailed(f"{root}id: not a valid id", code="invalid_search") from None
    if data.get("query_text") is not None:
        if not isinstance(data["query_text"], str) or not data["query_text"].strip():
            raise ValidationFailed(f"{root}query_text: expected a non-empty string", code="invalid_search")
        p.query_text = text_check(f"{root}query_text", data["query_text"][:1000])
    if (p.vector is None) == (p.id is None) and not (p.query_text and p.vector is None and p.id is None):
        raise ValidationFailed(f"{root}vector: give exactly one of vector or id (or query_text alone)",
                               code="invalid_search")
    k = data.get("k", 10)
    if isinstance(k, int) and not isinstance(k, bool) and k > MAX_K:
        raise PayloadTooLarge(f"{root}k: at most {MAX_K}, got {k}", code="k_too_large")
    p.k = _int(data, "k", root, 1, MAX_K, 10)
    p.ef_search = _int(data, "ef_search", root, 1, MAX_EF, None)
    p.probes = _int(data, "probes", root, 1, 32768, None)
    p.rrf_k = _int(data, "rrf_k", root, 1, 10000, None)
    threshold = data.get("threshold")
    if threshold is not None:
        if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not math.isfinite(threshold):
            raise ValidationFailed(f"{root}threshold: expected a finite number", code="invalid_search")
        p.threshold = float(threshold)
    if data.get("filter") is not None:
        filter_compile(data["filter"], root=f"{root}filter")  # validates now, names the path
        p.filter = data["filter"] or None
    include = data.get("include", [])
    if not isinstance(include, list) or not all(isinstance(x, str) for x in include):
        raise ValidationFailed(f"{root}include: expected a list of field names", code="invalid_search")
    bad = sorted(set(include) - INCLUDE)
    if bad:
        raise ValidationFailed(f"{root}include: unknown field {bad[0]} (allowed: {', '.join(sorted(INCLUDE))})",
                               code="invalid_search")
    p.include = set(include)
    exact = data.get("exact", False)
    if not isinstance(exact, bool):
        raise ValidationFailed(f"{root}exact: expected true or false", code="invalid_search")
    p.exact = exact
    return p
