"""The two-level cache: a Django cache backend and the project's cache calls, on one engine.

Modules, by concern:

* ``backends``: ``TwoLevelCache``, the ``CACHES`` backend (Django's whole cache contract; its
  docstring has the options and the rule of when writes take effect);
* ``engine``: ``CacheEngine``, L1 in front of L2 (Redis, connections by django-redis), one per
  configuration per process, shared by every thread's backend instance and the calls below;
  guarded Redis calls, single-flight fills, counters; ``coherence``: its invalidation subscriber
  (L1 served only while subscribed; fork handling); ``local``: L1, the bounded in-process LRU;
  ``codec``: the Redis form of values and what L1 keeps; ``wire``: several commands per round trip;
  ``guards``: input checks, Redis error types, throttled error logs;
* ``api``: the project's key/value calls (``cache_get``, ``cache_set``, tags, patterns) on the
  engine of a ``CACHES`` alias; ``transactions``: invalidate after commit, read-your-writes;
* ``rows``: the row cache (``instance_get``) and the registry of cached models with their
  invalidation receivers;
* ``pubsub``: publish after commit / listen on a Redis channel; ``locks``: distributed locks;
* ``metrics``: Prometheus export; ``setup``: the start-up wiring an AppConfig.ready() runs.

When writes take effect: Django's cache API (``django.core.cache.cache``) acts at once, inside
``atomic`` blocks too, as Django's own backends do; the project's invalidations (``cache_delete``,
tags, patterns, the row cache) wait for the surrounding transaction to commit.

Settings: ``CACHES`` (the engine's options, from ``AGENCY_CACHE_*`` in
agency/settings/components/cache.py), ``AGENCY_CACHE_INSTANCE_TTL``, ``AGENCY_CACHED_MODELS``.
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
    isolated_engine,
    reset_caches,
)
from apps.platform.cache.backends import TwoLevelCache
from apps.platform.cache.engine import CacheEngine
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
    "ACCESS_KEY", "MISSING", "REDIS_ERRORS", "STATS_KEY", "CacheEngine", "LockLost", "LockNotAcquired",
    "TwoLevelCache", "isolated_engine",
    "cache_delete", "cache_delete_many", "cache_get", "cache_get_or_set", "cache_invalidate_pattern",
    "cache_invalidate_tags", "cache_set", "cacheable", "cached_model", "caches_in_process", "channel_listen",
    "channel_publish", "distributed_lock", "get_cache", "instance_get", "instance_key", "instances_invalidate",
    "lock_create", "lock_extend", "lock_is_held", "model_tag", "parse_row_key", "publisher_origin",
    "register_cached_model", "register_cached_models", "reset_caches",
]
