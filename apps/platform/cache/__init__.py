"""The two-level cache engine and its transport: what domain apps import for caching.

Modules, by concern:

* ``local``: L1, the bounded in-process LRU with a TTL per entry;
* ``engine``: ``TwoLevelCache``, L1 in front of L2 (Redis via django-redis), guarded Redis calls,
  single-flight fills, counters; ``coherence``: its invalidation subscriber (L1 served only while
  subscribed; fork handling); ``guards``: input checks, Redis error types, throttled error logs;
* ``api``: one cache per alias per process and the key/value calls (``cache_get``, ``cache_set``,
  tags, patterns); ``transactions``: invalidate after commit, read-your-writes;
* ``rows``: the row cache (``instance_get``) and the registry of cached models with their
  invalidation receivers;
* ``pubsub``: publish after commit / listen on a Redis channel; ``locks``: distributed locks;
* ``metrics``: Prometheus export; ``setup``: the start-up wiring an AppConfig.ready() runs.

Settings: ``AGENCY_CACHE_*`` (agency/settings/components/cache.py), ``AGENCY_CACHED_MODELS``.
"""

from apps.platform.cache.api import (
    MISSING,
    cache_delete,
    cache_delete_many,
    cache_get,
    cache_get_or_set,
    cache_invalidate_pattern,
    cache_invalidate_tags,
    cache_set,
    caches_in_process,
    get_cache,
    reset_caches,
)
from apps.platform.cache.engine import TwoLevelCache
from apps.platform.cache.guards import ACCESS_KEY, REDIS_ERRORS, STATS_KEY
from apps.platform.cache.locks import (
    LockLost,
    LockNotAcquired,
    distributed_lock,
    lock_create,
    lock_extend,
    lock_is_held,
)
from apps.platform.cache.pubsub import channel_listen, channel_publish, publisher_origin
from apps.platform.cache.rows import (
    cacheable,
    cached_model,
    instance_get,
    instance_key,
    instances_invalidate,
    model_tag,
    parse_row_key,
    register_cached_model,
    register_cached_models,
)

__all__ = [
    "ACCESS_KEY", "MISSING", "REDIS_ERRORS", "STATS_KEY", "LockLost", "LockNotAcquired", "TwoLevelCache",
    "cache_delete", "cache_delete_many", "cache_get", "cache_get_or_set", "cache_invalidate_pattern",
    "cache_invalidate_tags", "cache_set", "cacheable", "cached_model", "caches_in_process", "channel_listen",
    "channel_publish", "distributed_lock", "get_cache", "instance_get", "instance_key", "instances_invalidate",
    "lock_create", "lock_extend", "lock_is_held", "model_tag", "parse_row_key", "publisher_origin",
    "register_cached_model", "register_cached_models", "reset_caches",
]
