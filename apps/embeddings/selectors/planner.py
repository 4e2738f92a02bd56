"""The search planner: which strategy answers a query, from our own bounded row count.

PostgreSQL's own estimate for JSONB predicates is a guess (measured here: a 1.7% filter was sent to
plain HNSW, recall 0.02), and plain HNSW with a selective filter returns too few rows. So:

* no filter: the collection's index (HNSW at ef_search >= k, IVFFlat at `probes`), or the binary
  index with a re-rank of max(10k, 100) candidates;
* a filter: count the matching rows ourselves with a bounded count (served by the GIN / B-tree
  indexes, memoised for a minute). Few enough (`exact_limit`, at most
  `AGENCY_EMBEDDINGS_EXACT_THRESHOLD`): exact search over exactly those rows (recall 1). More: the
  index with an iterative scan (`relaxed_order`) at an ef_search sized from the filter's share of
  the collection (`iterative_ef`) and a scan budget `hnsw.max_scan_tuples` from the share and the
  collection's size (`scan_budget`), all reported in `plan.settings`; and if that still returns
  fewer than k rows, an exact fallback;
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
                    iterative: bool, budget: int | None = None) -> dict[str, Any]:
    if collection.index_type == IndexType.HNSW:
        ef = min(1000, max(ef_search or settings.AGENCY_EMBEDDINGS_EF_SEARCH, k))
        # No enable_sort here: the statement adds `enable_sort=off` only where PostgreSQL, asked
        # once, would not use the index unaided (search/statements.py, `index_needs_forcing`).
        out: dict[str, Any] = {"hnsw.ef_search": ef}
        if iterative:
            out["hnsw.iterative_scan"] = "relaxed_order"
            out["hnsw.max_scan_tuples"] = budget or settings.AGENCY_EMBEDDINGS_MAX_SCAN_TUPLES
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
        if collection.index_status == IndexStatus.DEFERRED:
            why = "index deferred for a bulk load (rebuilt after it): exact over the whole collection"
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
    wanted = FIRST_PASS_MATCHES_PER_K * k * total / settings.AGENCY_EMBEDDINGS_EF_SEARCH
    bound = min(10 * threshold, max(threshold, math.ceil(wanted))) + 1
    count = filtered_count(collection, where, where_params, bound)
    known = count < bound
    limit = threshold
    if count <= threshold:
        limit = exact_limit(total=total, k=k, dimension=collection.dimension)
        if count <= limit:
            return Plan("exact_filtered", f"filter matches {count} of {total} rows (<= {limit}): exact over them",
                        estimated_rows=count, estimate_exact=True, threshold=limit)
    ef = ef_search if ef_search else iterative_ef(k=k, matching=count, total=total)
    budget = scan_budget(k=k, matching=count, total=total, dimension=collection.dimension)
    halfvec = collection.precision == Precision.HALFVEC
    return Plan(f"{collection.index_type}_iterative",
                f"filter matches {count if known else f'at least {count}'} of {total} rows "
                f"(> {limit}): iterative index scan",
                estimated_rows=count, estimate_exact=known, threshold=limit,
                index=collection.index_name, candidates=min(1000, 2 * k) if halfvec else None,
                settings=_index_settings(collection, k=k, ef_search=ef, probes=probes, iterative=True,
                                         budget=budget))


# Matching rows the first pass of a filtered iterative scan should hold, per result wanted.
FIRST_PASS_MATCHES_PER_K = 2


def iterative_ef(*, k: int, matching: int, total: int) -> int:
    """ef_search for a filtered iterative HNSW scan: its first pass holds ~2k matching candidates.

    A pass at ef_search = ef returns ~ef * share rows passing the filter. The old rule sized that
    to k (ef = k / share, at least 40): a broad filter then stops after one pass with the top k of
    barely k matching candidates, which on real text embeddings is too few. Measured on
    all-MiniLM-L6-v2 vectors of 17,954 docstrings (HNSW m=16, ef_construction=100, 100 queries,
    recall@10, iterative relaxed_order; p50 ms on this shared 2-core machine):

        share   ef 40        ef 100       ef 200       ef 400      strict ef 40 / 100
        51%     0.968 1.0    0.982 1.7    0.985 2.8    0.991 5.4   0.960 / 0.979
        44%     0.982 1.0    0.994 1.5    0.998 3.4                0.978 / 0.994
        31%     0.966 2.0    0.974 2.6    0.984 3.3    0.989 5.5   0.941 / 0.964
        21%     0.972 1.9    0.982 2.0    0.988 3.3    0.996 5.4   0.959 / 0.975
        10%     0.979 3.6    0.988 3.7    0.991 3.9    0.996 5.4   0.944 / 0.968   (exact: 1.4 ms)

    and on the issue's ~31,000 docstrings a 31% filter at ef 40 fell to 0.932 (ef 100: ~0.95):
    recall falls as the collection grows and rises with the matching candidates of the first pass.
    2k of them (ef = 2k / share: 40 at 50%, 65 at 31%, 100 at 20%, 200 at 10%) keep the
    measured recall >= 0.97 for at most ~1.1x the time of ef 40, where a target of 40 matching
    candidates (ef = 40 / share) cost up to 1.8x (ef 200 at 21%: 3.3 ms against 1.9). Below ~10%
    the exact path usually wins (`exact_limit`). relaxed_order at every share: strict_order
    measured lower recall at the same ef_search everywhere (table). `matching` may be a lower
    bound (a bounded count), which only makes ef larger, never the result short (the scan iterates,
    then the exact fallback).
    """
    share = max(1, matching) / max(1, total)
    wanted = math.ceil(FIRST_PASS_MATCHES_PER_K * k / share)
    return min(1000, max(settings.AGENCY_EMBEDDINGS_EF_SEARCH, k, wanted))


def scan_budget(*, k: int, matching: int, total: int, dimension: int) -> int:
    """hnsw.max_scan_tuples for a filtered iterative scan: never below pgvector's default, more for rarer matches.

    pgvector counts every tuple the scan visits (each candidate's ~2m neighbours, not only the rows
    it returns). A budget sized to returned rows cut the scan short: measured on 17,854 MiniLM
    vectors with a 31% filter, a budget of 744 dropped recall@10 to 0.934 where the same scan with
    100,000 reached 0.97-0.98. So: at least 20,000 (pgvector's default), and for rare matches
    2m (32) visited tuples for each of four passes' max(k, 40) / share candidates, capped by
    AGENCY_EMBEDDINGS_MAX_SCAN_TUPLES; a scan that exhausts it (a filter correlated against the
    query) ends short, and the exact fallback, never short, finishes the search.
    """
    share = max(1, matching) / max(1, total)
    expected = math.ceil(max(k, settings.AGENCY_EMBEDDINGS_EF_SEARCH) / share)
    return min(settings.AGENCY_EMBEDDINGS_MAX_SCAN_TUPLES, max(20_000, 32 * 4 * expected))


def exact_limit(*, total: int, k: int, dimension: int) -> int:
    """Most matching rows for which exact search beats an iterative index scan.

    Exact costs ~a * dimension per matching row; an iterative scan visits ~e / selectivity =
    e * total / rows tuples at ~b each, e = max(k, AGENCY_EMBEDDINGS_EF_SEARCH). Equal when
    rows^2 = e * total * (b / a) / dimension. b / a = AGENCY_EMBEDDINGS_EXACT_COST_RATIO (measured
    here: a = 3.5 ns per row-dimension, b = 10 us per visited tuple). Capped by
    AGENCY_EMBEDDINGS_EXACT_THRESHOLD. e rather than k (before): on 17,954 MiniLM vectors (384-d),
    exact over a 10% filter (1,849 rows) took 1.4 ms against 3.6 ms iterative, over 21% (3,698)
    5.6 ms against 1.9: the crossover lies between, and this limit is 2,311 there (k=10).
    """
    ratio = settings.AGENCY_EMBEDDINGS_EXACT_COST_RATIO
    e = max(k, settings.AGENCY_EMBEDDINGS_EF_SEARCH)
    crossover = math.isqrt(max(0, int(e * total * ratio / max(1, dimension))))
    return min(settings.AGENCY_EMBEDDINGS_EXACT_THRESHOLD, max(k, crossover))
