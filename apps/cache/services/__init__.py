"""The cache service API (see `core` for the contract other apps rely on)."""

from apps.cache.services.core import (
    cache_delete,
    cache_delete_many,
    cache_get,
    cache_get_or_set,
    cache_invalidate_pattern,
    cache_invalidate_tags,
    cache_set,
    get_cache,
    instance_get,
    instance_key,
    instances_invalidate,
    model_tag,
    reset_caches,
)
from apps.cache.services.pubsub import AGENT_STATUS_CHANNEL, agent_status_publish, channel_listen
from apps.cache.services.sessions import session_end, session_get, session_put, session_update
from apps.cache.services.stats import cache_stats, stats_snapshot_create
from apps.cache.services.warming import (
    cache_warm,
    warming_rule_create,
    warming_rule_delete,
    warming_rule_update,
)

__all__ = [
    "AGENT_STATUS_CHANNEL", "agent_status_publish", "cache_delete", "cache_delete_many", "cache_get",
    "cache_get_or_set", "cache_invalidate_pattern", "cache_invalidate_tags", "cache_set", "cache_stats",
    "cache_warm", "channel_listen", "get_cache", "instance_get", "instance_key", "instances_invalidate",
    "model_tag", "reset_caches", "session_end", "session_get", "session_put", "session_update",
    "stats_snapshot_create", "warming_rule_create", "warming_rule_delete", "warming_rule_update",
]
