"""Settings of the cache, read from the environment (see README).

The two-level cache itself is configured entirely in ``CACHES`` (agency/settings/base.py); this
module reads its environment variables into the engine's OPTIONS (`two_level_options`, names in
``apps.platform.cache.engine.ENGINE_OPTIONS``). Only what the domain layer uses stays a setting.
"""

from typing import Any

from agency.settings.environment import env


def two_level_options() -> dict[str, Any]:
    """The engine's part of ``CACHES["default"]["OPTIONS"]``, from ``AGENCY_CACHE_*``."""
    return {
        # L1: the bounded in-process LRU in front of Redis (per process).
        "L1_MAX_ENTRIES": env.int("AGENCY_CACHE_L1_MAX_ENTRIES", default=10_000),
        # Upper bound (seconds) of an entry's life in L1, whatever its L2 TTL: a safety net should
        # an invalidation message ever be lost (pub/sub is at-most-once).
        "L1_TTL": env.float("AGENCY_CACHE_L1_TTL", default=30.0),
        "INVALIDATION_CHANNEL": env("AGENCY_CACHE_INVALIDATE_CHANNEL", default="agency:cache:invalidate"),
        "MAX_KEY_BYTES": env.int("AGENCY_CACHE_MAX_KEY_BYTES", default=1024),
        "MAX_VALUE_BYTES": env.int("AGENCY_CACHE_MAX_VALUE_BYTES", default=1024 * 1024),
        # Redis errors are logged at most once per this many seconds (per process).
        "ERROR_LOG_INTERVAL": env.float("AGENCY_CACHE_ERROR_LOG_INTERVAL", default=60.0),
        # After a Redis connection error, skip Redis for this long before trying again (seconds).
        "RETRY_INTERVAL": env.float("AGENCY_CACHE_RETRY_INTERVAL", default=1.0),
        # Single-flight: how long a loader may hold the per-key fill lock, and how long others wait.
        "FILL_LOCK_TIMEOUT": env.float("AGENCY_CACHE_FILL_LOCK_TIMEOUT", default=30.0),
        "FILL_WAIT": env.float("AGENCY_CACHE_FILL_WAIT", default=10.0),
        # Access counts (a Redis sorted set, for warming) keep only this many of the most-read keys.
        "ACCESS_MAX_KEYS": env.int("AGENCY_CACHE_ACCESS_MAX_KEYS", default=200_000),
        # Redis down must not take the API down: a read is a miss, a write is skipped (logged).
        "IGNORE_EXCEPTIONS": True,
    }


# TTL of rows cached by instance_get (seconds).
AGENCY_CACHE_INSTANCE_TTL = env.int("AGENCY_CACHE_INSTANCE_TTL", default=300)
# Warming: how many of the most-read keys `cache_warm` loads by default.
AGENCY_CACHE_WARM_LIMIT = env.int("AGENCY_CACHE_WARM_LIMIT", default=1000)

# Agent sessions (`session:{agent_id}` in Redis).
AGENCY_AGENT_SESSION_TTL = env.int("AGENCY_AGENT_SESSION_TTL", default=3600)
AGENCY_AGENT_SESSION_MAX_TTL = env.int("AGENCY_AGENT_SESSION_MAX_TTL", default=7 * 24 * 3600)
AGENCY_AGENT_SESSION_MAX_BYTES = env.int("AGENCY_AGENT_SESSION_MAX_BYTES", default=64 * 1024)
