"""Cache statistics: this process, the whole cluster (counters summed in Redis), and Redis itself."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from apps.cache.models import CacheStatsSnapshot
from apps.platform.cache import STATS_KEY, get_cache

COUNTERS = ("l1_hits", "l1_misses", "l1_evictions", "l2_hits", "l2_misses", "loads", "errors")


def _rates(counters: dict[str, int]) -> dict[str, float]:
    l1_reads = counters.get("l1_hits", 0) + counters.get("l1_misses", 0)
    l2_reads = counters.get("l2_hits", 0) + counters.get("l2_misses", 0)
    # Every read ends as an L1 hit, an L2 hit or an L2 miss (L1 bypassed reads go straight to L2).
    reads = counters.get("l1_hits", 0) + l2_reads
    return {
        "l1_hit_rate": counters.get("l1_hits", 0) / l1_reads if l1_reads else 0.0,
        "l2_hit_rate": counters.get("l2_hits", 0) / l2_reads if l2_reads else 0.0,
        "hit_rate": (counters.get("l1_hits", 0) + counters.get("l2_hits", 0)) / reads if reads else 0.0,
    }


def cache_stats() -> dict[str, Any]:
    """Counters and rates per level, for this process and the cluster, plus Redis's own figures."""
    c = get_cache()
    c.flush_counters()
    local = c.counters()

    def read(r) -> dict[str, Any]:
        info = r.info()
        raw = r.hgetall(c.make_key(STATS_KEY))
        cluster = {k.decode(): int(v) for k, v in raw.items()}
        return {"info": info, "cluster": cluster, "keys": r.dbsize()}

    found = c.call("read stats", read, None)
    redis_part: dict[str, Any] = {"up": found is not None}
    cluster = {name: 0 for name in COUNTERS}
    if found:
        info = found["info"]
        cluster.update(found["cluster"])
        redis_part.update({
            "keys": found["keys"], "evicted_keys": info.get("evicted_keys", 0),
            "expired_keys": info.get("expired_keys", 0), "keyspace_hits": info.get("keyspace_hits", 0),
            "keyspace_misses": info.get("keyspace_misses", 0), "used_memory": info.get("used_memory", 0),
            "maxmemory_policy": info.get("maxmemory_policy"),
        })
    return {
        "process": {**local, **_rates(local), "l1_entries": len(c.local), "l1_max_entries": c.local.max_entries,
                    "subscribed": c.subscribed, "invalidations_received": c.deliveries,
                    "origin": c.origin},
        "cluster": {**cluster, **_rates(cluster)},
        "redis": redis_part,
    }


@transaction.atomic
def stats_snapshot_create() -> CacheStatsSnapshot:
    """Persist the cluster-wide counters now (a Celery beat job calls this periodically)."""
    stats = cache_stats()
    cl, rd = stats["cluster"], stats["redis"]
    return CacheStatsSnapshot.objects.create(
        l1_hits=cl["l1_hits"], l1_misses=cl["l1_misses"], l2_hits=cl["l2_hits"], l2_misses=cl["l2_misses"],
        hit_rate=cl["hit_rate"], l1_evictions=cl["l1_evictions"], l2_evictions=rd.get("evicted_keys", 0),
        key_count=rd.get("keys", 0), loads=cl["loads"], errors=cl["errors"], redis_up=rd["up"],
        details={"redis": rd, "snapshot_process": stats["process"]},
    )
