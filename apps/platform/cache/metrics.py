"""Prometheus export of the cache counters (read at scrape time, so the hot path pays nothing).

These replace django-prometheus' cache wrapper (``django_cache_get_total`` and friends), which
counted a cached ``None`` as a miss and returned the default instead of it.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import REGISTRY, Collector

from apps.platform.cache.api import caches_in_process


class CacheCollector(Collector):
    """Per-alias counters of this process's caches, plus the L2 key count (one DBSIZE per scrape)."""

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily("agency_cache_requests", "Cache reads by level and result",
                                       labels=["alias", "level", "result"])
        evictions = CounterMetricFamily("agency_cache_evictions", "L1 LRU evictions", labels=["alias"])
        loads = CounterMetricFamily("agency_cache_loads", "Fills: loader calls after a miss", labels=["alias"])
        received = CounterMetricFamily("agency_cache_invalidations_received",
                                       "Invalidation messages from other processes applied to L1", labels=["alias"])
        errors = CounterMetricFamily("agency_cache_redis_errors", "Redis errors seen by the cache", labels=["alias"])
        entries = GaugeMetricFamily("agency_cache_l1_entries", "Entries in this process's L1", labels=["alias"])
        subscribed = GaugeMetricFamily("agency_cache_subscribed", "1 while invalidations are received",
                                       labels=["alias"])
        for alias, c in caches_in_process():
            n = c.counters()
            requests.add_metric([alias, "l1", "hit"], n["l1_hits"])
            requests.add_metric([alias, "l1", "miss"], n["l1_misses"])
            requests.add_metric([alias, "l2", "hit"], n["l2_hits"])
            requests.add_metric([alias, "l2", "miss"], n["l2_misses"])
            evictions.add_metric([alias], n["l1_evictions"])
            loads.add_metric([alias], n["loads"])
            received.add_metric([alias], n["invalidations_received"])
            errors.add_metric([alias], n["errors"])
            entries.add_metric([alias], len(c.local))
            subscribed.add_metric([alias], 1.0 if c.subscribed else 0.0)
        keys = GaugeMetricFamily("agency_cache_l2_keys", "Keys in the Redis cache database", labels=["alias"])
        for alias, c in caches_in_process():
            found = c.call("dbsize", lambda r: r.dbsize(), None)  # one round trip per scrape
            if found is not None:
                keys.add_metric([alias], found)
        yield from (requests, evictions, loads, received, errors, entries, subscribed, keys)


_registered = False


def register() -> None:
    """Add the collector to the default Prometheus registry (once per process)."""
    global _registered
    if not _registered:
        REGISTRY.register(CacheCollector())
        _registered = True
