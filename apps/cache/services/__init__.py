"""The cache app's services: warming and stats snapshots.

The engine (`cache_get`, `instance_get`, locks, pub/sub, ...) is platform plumbing: import it
from `apps.platform.cache`.
"""

from apps.cache.services.invalidation import cache_invalidate
from apps.cache.services.stats import cache_stats, stats_snapshot_create
from apps.cache.services.warming import (
    cache_warm,
    warming_rule_create,
    warming_rule_delete,
    warming_rule_update,
)

__all__ = [
    "cache_invalidate", "cache_stats", "cache_warm", "stats_snapshot_create", "warming_rule_create",
    "warming_rule_delete", "warming_rule_update",
]
