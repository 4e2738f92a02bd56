"""Cache benchmark: L1 hit, L2 hit, miss, get_many and set against raw redis-py in the same run,
through the project's calls and Django's cache API (`caches["default"]`, the TwoLevelCache
backend), and the hit rate of a Zipf(1.1) read workload over 100K rows after warming.

    python bench/cache.py [--quick]

Targets (issue #16): L1 hit >= 50x raw redis-py GET (ops/s); L2 hit <= 1.2x raw GET (time per op);
get_many of 100 keys >= 0.8x a raw MGET of the same keys and >= 100,000 keys/s; hit rate >= 95%.
The get_many row is shown against two baselines: the bare MGET (bytes, nothing decoded) and MGET
plus unpickling each value (the same result get_many returns); the target is judged on the
second, the equivalent work. Keys live under their own prefix (agency-bench-<pid>), so the bench
never touches other data in the Redis it shares; rows live in the harness's scratch database.
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
        import pickle

        import numpy as np
        from django.core.cache import caches

        from apps.cache import services
        from apps.cache.models import CacheStatsSnapshot
        from apps.platform import cache

        # The Zipf rows below are snapshots read through the row cache: register them as a cached
        # model (receivers + warming's key → model lookup), as an app does for its own models.
        cache.register_cached_model(CacheStatsSnapshot)
        c = cache.get_cache()
        c.wait_subscribed(timeout=10)
        django_cache = caches["default"]  # the TwoLevelCache backend instance of this thread
        r = c.redis
        value = {"id": 12345, "name": "agent-12345", "status": "active", "capabilities": ["search", "code"]}
        payload = c.encode("x", value)
        raw_keys: list[str] = []
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
            l1_django, raw_get_1d = compare(django_cache.get, hot * (n_ops // 100), r.get, raw_keys)
            # The same with a str value: L1 keeps immutables as objects, so this is L1 without the unpickling
            # that a dict's copy costs on every hit (what the two rows above pay).
            for k in hot:
                django_cache.set(f"s:{k}", "agent-12345 active", 300)
            l1_str, raw_get_1s = compare(django_cache.get, [f"s:{k}" for k in hot] * (n_ops // 100), r.get, raw_keys)
            # L2 hit: an L1 far smaller than the key cycle, so every read is L1 miss -> Redis -> L1 fill.
            l2 = cache.isolated_engine("default")
            l2.local.max_entries = 50
            l2.wait_subscribed(timeout=10)
            l2_hit, raw_get_2 = compare(l2.get, keys, r.get, raw_keys)
            assert l2.l2_hits >= len(keys), "the L2 row did not measure L2 hits"
            l2.stop()
            miss, raw_get_3 = compare(cache.cache_get, [f"absent:{i}" for i in range(n_ops)], r.get, raw_keys)

            # get_many of 100 keys: from Redis (get_many does not fill L1, and L1 is emptied first) …
            batches = [keys[i:i + 100] for i in range(0, n_ops, 100)]
            raw_batches = [raw_keys[i:i + 100] for i in range(0, n_ops, 100)]
            c.local.clear()
            assert len(django_cache.get_many(batches[0])) == 100
            many_l2, raw_mget = compare(django_cache.get_many, batches, r.mget, raw_batches)
            loads = pickle.loads
            many_l2b, raw_mget_loads = compare(django_cache.get_many, batches,
                                               lambda b: [loads(x) for x in r.mget(b)], raw_batches)
            many_l2 = max(many_l2, many_l2b)
            # … and from L1 (the same 100 keys, read once through get so that L1 holds them).
            for k in batches[0]:
                django_cache.get(k)
            many_l1, raw_mget_2 = compare(django_cache.get_many, [batches[0]] * len(batches), r.mget, raw_batches)

            # Last: every set publishes, and this process's subscriber receives its own messages too.
            raw_set_fn = lambda k: r.set(k, payload, ex=300)  # noqa: E731
            cache_set, raw_set = compare(lambda k: cache.cache_set(k, value, ttl=300), keys, raw_set_fn, raw_keys)
            django_set, raw_set_d = compare(lambda k: django_cache.set(k, value, 300), keys, raw_set_fn, raw_keys)

            def yes(ok: bool) -> str:
                return "yes" if ok else "NO"

            rows = [
                ["L1 hit (cache_get)", l1_hit, 1e6 / l1_hit, "raw GET", raw_get_1,
                 f"{l1_hit / raw_get_1:.1f}x faster", ">= 50x", yes(l1_hit / raw_get_1 >= 50)],
                ["L1 hit (Django caches['default'].get)", l1_django, 1e6 / l1_django, "raw GET", raw_get_1d,
                 f"{l1_django / raw_get_1d:.1f}x faster", ">= 50x", yes(l1_django / raw_get_1d >= 50)],
                ["L1 hit (Django get, a str value)", l1_str, 1e6 / l1_str, "raw GET", raw_get_1s,
                 f"{l1_str / raw_get_1s:.1f}x faster", "-", "-"],
                ["L2 hit (L1 miss, GET+PTTL, L1 fill)", l2_hit, 1e6 / l2_hit, "raw GET", raw_get_2,
                 f"{raw_get_2 / l2_hit:.2f}x time", "<= 1.2x", yes(raw_get_2 / l2_hit <= 1.2)],
                ["miss (L1 + L2)", miss, 1e6 / miss, "raw GET", raw_get_3, f"{raw_get_3 / miss:.2f}x time", "-", "-"],
                [f"get_many 100 keys from L2 ({100 * many_l2:,.0f} keys/s)", many_l2, 1e6 / many_l2,
                 "raw MGET + unpickle", raw_mget_loads, f"{many_l2 / raw_mget_loads:.2f}x ops",
                 ">= 0.8x, >= 100k keys/s", yes(many_l2 / raw_mget_loads >= 0.8 and 100 * many_l2 >= 100_000)],
                ["get_many 100 keys from L2, same run", many_l2, 1e6 / many_l2, "raw MGET (bytes)", raw_mget,
                 f"{many_l2 / raw_mget:.2f}x ops", "-", "-"],
                [f"get_many 100 keys from L1 ({100 * many_l1:,.0f} keys/s)", many_l1, 1e6 / many_l1,
                 "raw MGET (bytes)", raw_mget_2, f"{many_l1 / raw_mget_2:.1f}x ops", "-", "-"],
                ["cache_set (SET + PUBLISH)", cache_set, 1e6 / cache_set, "raw SET", raw_set,
                 f"{raw_set / cache_set:.2f}x time", "-", "-"],
                ["Django set (SET + PUBLISH)", django_set, 1e6 / django_set, "raw SET", raw_set_d,
                 f"{raw_set_d / django_set:.2f}x time", "-", "-"],
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
                         yes(hit_rate >= 0.95)])
            print_table(f"cache ({'quick' if quick else 'full'}: {n_ops:,} ops per row)",
                        ["operation", "ops/s", "us/op", "baseline", "baseline ops/s", "ratio", "target", "met"], rows)
        finally:
            if raw_keys:
                r.delete(*raw_keys)
            cache.cache_invalidate_pattern("*", allow_all=True, on_commit=False)
            cache.reset_caches()


if __name__ == "__main__":
    main()
