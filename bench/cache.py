"""Cache benchmark: L1 hit, L2 hit, miss and set against raw redis-py GET/SET in the same run, and
the hit rate of a Zipf(1.1) read workload over 100K rows after warming.

    python bench/cache.py [--quick]

Targets (issue #5): L1 hit >= 20x raw redis-py GET (ops/s), L2 hit <= 1.2x raw GET (time per op),
hit rate >= 95%. Keys live under their own prefix (agency-bench-<pid>), so the bench never touches
other data in the Redis it shares; rows live in the harness's scratch database.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.harness import django_scratch_db, parse_args, print_table  # noqa: E402

os.environ["AGENCY_CACHE_PREFIX"] = f"agency-bench-{os.getpid()}"


def ops_per_second(fn, keys: list, repeat: int = 3) -> float:
    """Best of `repeat` passes over `keys` (the machine is shared and noisy)."""
    best = 0.0
    for _ in range(repeat):
        start = time.perf_counter()
        for k in keys:
            fn(k)
        best = max(best, len(keys) / (time.perf_counter() - start))
    return best


def compare(fn, keys: list, base, base_keys: list, rounds: int = 5) -> tuple[float, float]:
    """Best ops/s of `fn` and of its baseline, measured in alternating rounds so noise hits both."""
    best_fn = best_base = 0.0
    for _ in range(rounds):
        best_base = max(best_base, ops_per_second(base, base_keys, repeat=1))
        best_fn = max(best_fn, ops_per_second(fn, keys, repeat=1))
    return best_fn, best_base


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    quick = args.quick
    n_ops = 2_000 if quick else 20_000
    n_rows = 1_000 if quick else 100_000
    n_history = 20_000 if quick else 1_000_000
    n_reads = 20_000 if quick else 200_000

    with django_scratch_db("cache"):
        import numpy as np

        from apps.cache import services
        from apps.cache.models import CacheStatsSnapshot
        from apps.platform import cache
        from apps.platform.cache import TwoLevelCache

        # The Zipf rows below are snapshots read through the row cache: register them as a cached
        # model (receivers + warming's key → model lookup), as an app does for its own models.
        cache.register_cached_model(CacheStatsSnapshot)
        c = cache.get_cache()
        c.wait_subscribed(timeout=10)
        r = c.redis
        value = {"id": 12345, "name": "agent-12345", "status": "active", "capabilities": ["search", "code"]}
        payload = c.encode("x", value)
        try:
            # ---- per-operation speed against raw redis-py ----------------------------------
            raw_keys = [c.make_key(f"raw:{i}") for i in range(n_ops)]
            keys = [f"op:{i}" for i in range(n_ops)]
            for raw_key, key in zip(raw_keys, keys, strict=True):
                r.set(raw_key, payload, ex=300)
                c.set(key, value, ttl=300, publish=False)
            hot = keys[:100]  # fits in L1
            for k in hot:
                cache.cache_get(k)
            l1_hit, raw_get_1 = compare(cache.cache_get, hot * (n_ops // 100), r.get, raw_keys)
            # L2 hit: an L1 far smaller than the key cycle, so every read is L1 miss -> Redis -> L1 fill.
            l2 = TwoLevelCache("default")
            l2.local.max_entries = 50
            l2.wait_subscribed(timeout=10)
            l2_hit, raw_get_2 = compare(l2.get, keys, r.get, raw_keys)
            assert l2.l2_hits >= len(keys), "the L2 row did not measure L2 hits"
            l2.stop()
            miss, raw_get_3 = compare(cache.cache_get, [f"absent:{i}" for i in range(n_ops)], r.get, raw_keys)
            # Last: every cache_set publishes, and this process's subscriber receives its own messages too.
            raw_set_fn = lambda k: r.set(k, payload, ex=300)  # noqa: E731
            cache_set, raw_set = compare(lambda k: cache.cache_set(k, value, ttl=300), keys, raw_set_fn, raw_keys)

            rows = [
                ["L1 hit (cache_get)", l1_hit, 1e6 / l1_hit, "raw GET", raw_get_1,
                 f"{l1_hit / raw_get_1:.1f}x faster", ">= 20x", "yes" if l1_hit / raw_get_1 >= 20 else "NO"],
                ["L2 hit (L1 miss, Redis, L1 fill)", l2_hit, 1e6 / l2_hit, "raw GET", raw_get_2,
                 f"{raw_get_2 / l2_hit:.2f}x time", "<= 1.2x", "yes" if raw_get_2 / l2_hit <= 1.2 else "NO"],
                ["miss (L1 + L2)", miss, 1e6 / miss, "raw GET", raw_get_3, f"{raw_get_3 / miss:.2f}x time", "-", "-"],
                ["cache_set (SET + tag + PUBLISH)", cache_set, 1e6 / cache_set, "raw SET", raw_set,
                 f"{raw_set / cache_set:.2f}x time", "-", "-"],
            ]

            # ---- Zipf(1.1) read workload through instance_get after warming -----------------
            CacheStatsSnapshot.objects.bulk_create(
                [CacheStatsSnapshot(l1_hits=i) for i in range(n_rows)], batch_size=5000)
            pks = list(CacheStatsSnapshot.objects.values_list("pk", flat=True))
            rng = np.random.default_rng(42)
            weights = 1.0 / np.arange(1, n_rows + 1) ** 1.1
            weights /= weights.sum()
            order = rng.permutation(n_rows)  # which row has which popularity rank
            history = order[rng.choice(n_rows, size=n_history, p=weights)]
            for i in history:  # yesterday's reads: only the access counts matter
                c.record_access(cache.instance_key(CacheStatsSnapshot, pks[i]))
            c.flush_counters()
            cache.cache_invalidate_pattern("model:*", on_commit=False)
            start = time.perf_counter()
            warmed = services.cache_warm(limit=n_rows)  # every row read in the history, most-read first
            warm_seconds = time.perf_counter() - start
            c.local.clear()
            before = c.counters()
            reads = order[rng.choice(n_rows, size=n_reads, p=weights)]
            start = time.perf_counter()
            for i in reads:
                cache.instance_get(CacheStatsSnapshot, pks[i])
            elapsed = time.perf_counter() - start
            after = c.counters()
            l1 = after["l1_hits"] - before["l1_hits"]
            l2h = after["l2_hits"] - before["l2_hits"]
            hit_rate = (l1 + l2h) / n_reads
            rows.append([f"Zipf(1.1) reads over {n_rows:,} rows, warmed {warmed['loaded']:,} in {warm_seconds:.1f}s",
                         n_reads / elapsed, 1e6 * elapsed / n_reads, "hit rate", f"{hit_rate:.1%}",
                         f"L1 {l1 / n_reads:.1%} + L2 {l2h / n_reads:.1%}", ">= 95%",
                         "yes" if hit_rate >= 0.95 else "NO"])
            print_table(f"cache ({'quick' if quick else 'full'}: {n_ops:,} ops per row)",
                        ["operation", "ops/s", "us/op", "baseline", "baseline ops/s", "ratio", "target", "met"], rows)
        finally:
            r.delete(*raw_keys)
            cache.cache_invalidate_pattern("*", allow_all=True, on_commit=False)
            cache.reset_caches()


if __name__ == "__main__":
    main()
