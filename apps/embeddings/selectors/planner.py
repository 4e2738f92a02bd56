"""The search planner: which strategy answers a query, from our own bounded row count.

PostgreSQL's own estimate for JSONB predicates is a guess (measured here: a 1.7% filter was sent to
plain HNSW, recall 0.02), and plain HNSW with a selective filter returns too few rows. So:

* no filter: the collection's index (HNSW at ef_search >= k, IVFFlat at `probes`), or the binary
  index with a re-rank of max(10k, 100) candidates;
* a filter: count the matching rows ourselves with a bounded count (served by the GIN / B-tree
  indexes, memoised for a minute). Few enough (`exact_limit`, at most
  `AGENCY_EMBEDDINGS_EXACT_THRESHOLD`): exact search over exactly those rows (recall 1). More: the
  index with an iterative scan (`relaxed_order`, `max_scan_tuples` raised) at an ef_search sized
  from the count (`iterative_ef`), and if that still returns fewer than k rows, an exact fallback;
* `exact: true`, index `none` or an index not built yet: exact;
* a half-precision (halfvec) index: its candidates (the ef_search window, or 2k for an iterative
  scan) are re-ranked over the full vectors, so recall and scores are those of full precision.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.conf import settings
from django.core.signals import setting_changed
from django.db import connection

from apps.embeddings.models import Collection, IndexStatus, IndexType, Precision

T = TypeVar("T")


@dataclass
class Plan:
    strategy: str
    reason: str
    estimated_rows: int | None = None
    estimate_exact: bool = False
    threshold: int | None = None
    index: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    candidates: int | None = None
    fallback: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out = {
            "strategy": self.strategy,
            "reason": self.reason,
            "estimated_rows": self.estimated_rows,
            "estimate": None if self.estimated_rows is None else ("exact" if self.estimate_exact else "lower_bound"),
            "exact_threshold": self.threshold,
            "index": self.index,
            "settings": dict(self.settings),  # a copy: plans are shared through the statement memo
        }
        if self.candidates:
            out["candidates"] = self.candidates
        if self.fallback:
            out["fallback"] = self.fallback
        return out


_MAX_MEMO = 4096
_memos: list[dict] = []


def memo_store() -> dict:
    """A new memo for `memoised`, emptied whenever an AGENCY_EMBEDDINGS setting changes."""
    store: dict = {}
    _memos.append(store)
    return store


_counts: dict[str, tuple[float, int]] = memo_store()


def memoised(store: dict, key: Any, compute: Callable[[], T]) -> T:
    """`compute()`, kept in `store` for AGENCY_EMBEDDINGS_PLAN_CACHE_SECONDS (0 turns memoising off)."""
    ttl = settings.AGENCY_EMBEDDINGS_PLAN_CACHE_SECONDS
    if ttl <= 0:
        return compute()
    now = time.monotonic()
    hit = store.get(key)
    if hit is None or hit[0] <= now:
        if len(store) >= _MAX_MEMO:
            store.clear()
        hit = store[key] = (now + ttl, compute())
    return hit[1]


def filtered_count(collection: Collection, where: str, where_params: list, limit: int) -> int:
    """Rows of the collection matching the filter, counted up to `limit` (so it stays cheap).

    Memoised in this process for AGENCY_EMBEDDINGS_PLAN_CACHE_SECONDS per (collection, filter): a
    stale count can only pick the slower strategy, never a wrong answer (exact is always right, and
    a short iterative scan falls back to exact). In-process on purpose: for selective filters the
    whole search costs less than a round trip to Redis.
    """
    def count() -> int:
        with connection.cursor() as cur:
            cur.execute(
                f"SELECT count(*) FROM (SELECT 1 FROM embeddings_embedding WHERE {collection.predicate} "
                f"AND {where} LIMIT {int(limit)}) s",
                where_params,
            )
            return cur.fetchone()[0]

    return memoised(_counts, f"{collection.pk}:{where}:{where_params!r}:{limit}", count)


def _index_settings(collection: Collection, *, k: int, ef_search: int | None, probes: int | None,
                    iterative: bool) -> dict[str, Any]:
    if collection.index_type == IndexType.HNSW:
        ef = min(1000, max(ef_search or settings.AGENCY_EMBEDDINGS_EF_SEARCH, k))
        # No enable_sort here: the statement adds `enable_sort=off` only where PostgreSQL, asked
        # once, would not use the index unaided (search/statements.py, `index_needs_forcing`).
        out: dict[str, Any] = {"hnsw.ef_search": ef}
        if iterative:
            out["hnsw.iterative_scan"] = "relaxed_order"
            out["hnsw.max_scan_tuples"] = settings.AGENCY_EMBEDDINGS_MAX_SCAN_TUPLES
        return out
    out = {"ivfflat.probes": min(int(collection.lists), probes or settings.AGENCY_EMBEDDINGS_IVFFLAT_PROBES)}
    if iterative:
        out["ivfflat.iterative_scan"] = "relaxed_order"
        out["ivfflat.max_probes"] = int(collection.lists)
    return out


def _clear_memos(setting: str, **kwargs: Any) -> None:
    if setting.startswith("AGENCY_EMBEDDINGS"):
        for store in _memos:
            store.clear()


setting_changed.connect(_clear_memos, dispatch_uid="apps.embeddings.planner.clear_memos")


def plan_search(collection: Collection, *, k: int, exact: bool, filtered: bool, where: str,
                where_params: list, ef_search: int | None = None, probes: int | None = None) -> Plan:
    """The plan for one search: a new object each time, which the caller may alter.

    Not memoised itself: the counts it rests on are (`filtered_count`), and searches keep the
    whole statement, plan included, in apps.embeddings.selectors.search's memo.
    """
    threshold = settings.AGENCY_EMBEDDINGS_EXACT_THRESHOLD
    ready = collection.index_status == IndexStatus.READY
    if exact:
        return Plan("exact_filtered" if filtered else "exact", "exact search requested")
    if not ready or (collection.index_type == IndexType.NONE and not collection.binary_index):
        why = "collection has no index" if collection.index_type == IndexType.NONE else "index not ready"
        return Plan("exact_filtered" if filtered else "exact", why)
    if not filtered:
        if collection.binary_index:
            # Measured: re-ranking the top 40 Hamming candidates stops at recall 0.90, the top 100 at 0.935
            # (100K x 768); 20k (at least 200) candidates reach 0.95+.
            candidates = min(1000, max(k * 20, 200))
            return Plan("binary_rerank", "binary-quantized index, re-ranked over full vectors",
                        index=collection.binary_index_name, candidates=candidates,
                        settings={"hnsw.ef_search": max(candidates, ef_search or 0)})
        index_settings = _index_settings(collection, k=k, ef_search=ef_search, probes=probes, iterative=False)
        if collection.precision == Precision.HALFVEC:
            # The whole ef_search window (the candidates HNSW found anyway), re-ranked over full vectors.
            window = index_settings.get("hnsw.ef_search", 4 * k)
            return Plan(collection.index_type, "no filter: half-precision index scan, re-ranked over full vectors",
                        index=collection.index_name, candidates=min(1000, max(k, window)), settings=index_settings)
        return Plan(collection.index_type, "no filter: approximate index scan", index=collection.index_name,
                    settings=index_settings)
    if collection.index_type == IndexType.NONE:
        return Plan("exact_filtered", "filter with no main index")
    total = filtered_count(collection, "TRUE", [], 10**12)
    # Count far enough to size the iterative scan too (see iterative_ef), within a cost bound.
    bound = min(10 * threshold, max(threshold, math.ceil(k * total / settings.AGENCY_EMBEDDINGS_EF_SEARCH))) + 1
    count = filtered_count(collection, where, where_params, bound)
    known = count < bound
    limit = threshold
    if count <= threshold:
        limit = exact_limit(total=total, k=k, dimension=collection.dimension)
        if count <= limit:
            return Plan("exact_filtered", f"filter matches {count} of {total} rows (<= {limit}): exact over them",
                        estimated_rows=count, estimate_exact=True, threshold=limit)
    ef = ef_search if ef_search else iterative_ef(k=k, matching=count, total=total)
    halfvec = collection.precision == Precision.HALFVEC
    return Plan(f"{collection.index_type}_iterative",
                f"filter matches {count if known else f'at least {count}'} of {total} rows "
                f"(> {limit}): iterative index scan",
                estimated_rows=count, estimate_exact=known, threshold=limit,
                index=collection.index_name, candidates=min(1000, 2 * k) if halfvec else None,
                settings=_index_settings(collection, k=k, ef_search=ef, probes=probes, iterative=True))


def iterative_ef(*, k: int, matching: int, total: int) -> int:
    """ef_search for a filtered iterative HNSW scan: large enough that the first pass finds k matches.

    A pass at ef_search = ef visits about ef candidates, of which ef * matching / total pass the
    filter; too small an ef means several passes (measured at 100K x 768 with a 10% filter: ef 40
    took 1.5 ms, ef 100 0.75 ms, ef 200 1.0 ms). `matching` may be a lower bound (a bounded
    count), which only makes ef larger than needed, never too small a result (the scan iterates).
    """
    wanted = math.ceil(k * total / max(1, matching))
    return min(1000, max(settings.AGENCY_EMBEDDINGS_EF_SEARCH, k, wanted))


def exact_limit(*, total: int, k: int, dimension: int) -> int:
    """Most matching rows for which exact search beats an iterative index scan.

    Exact costs ~a * dimension per matching row; an iterative scan visits ~k / selectivity =
    k * total / rows tuples at ~b each. Equal when rows^2 = k * total * (b / a) / dimension.
    b / a = AGENCY_EMBEDDINGS_EXACT_COST_RATIO (measured here: a = 3.5 ns per row-dimension,
    b = 10 us per visited tuple). Capped by AGENCY_EMBEDDINGS_EXACT_THRESHOLD.
    """
    ratio = settings.AGENCY_EMBEDDINGS_EXACT_COST_RATIO
    crossover = math.isqrt(max(0, int(k * total * ratio / max(1, dimension))))
    return min(settings.AGENCY_EMBEDDINGS_EXACT_THRESHOLD, max(k, crossover))
