"""Settings of the cache app, read from the environment (see README)."""

from agency.settings.environment import env

# L1: the bounded in-process LRU in front of Redis (per process).
AGENCY_CACHE_L1_MAX_ENTRIES = env.int("AGENCY_CACHE_L1_MAX_ENTRIES", default=10_000)
# Upper bound (seconds) of an entry's life in L1, whatever its L2 TTL: a safety net should an
# invalidation message ever be lost (pub/sub is at-most-once).
AGENCY_CACHE_L1_TTL = env.float("AGENCY_CACHE_L1_TTL", default=30.0)
AGENCY_CACHE_MAX_KEY_BYTES = env.int("AGENCY_CACHE_MAX_KEY_BYTES", default=1024)
AGENCY_CACHE_MAX_VALUE_BYTES = env.int("AGENCY_CACHE_MAX_VALUE_BYTES", default=1024 * 1024)
# TTL of rows cached by instance_get (seconds).
AGENCY_CACHE_INSTANCE_TTL = env.int("AGENCY_CACHE_INSTANCE_TTL", default=300)
AGENCY_CACHE_INVALIDATE_CHANNEL = env("AGENCY_CACHE_INVALIDATE_CHANNEL", default="agency:cache:invalidate")
# Redis errors are logged at most once per this many seconds (per process).
AGENCY_CACHE_ERROR_LOG_INTERVAL = env.float("AGENCY_CACHE_ERROR_LOG_INTERVAL", default=60.0)
# After a Redis connection error, skip Redis for this long before trying again (seconds).
AGENCY_CACHE_RETRY_INTERVAL = env.float("AGENCY_CACHE_RETRY_INTERVAL", default=1.0)
# Single-flight: how long a loader may hold the per-key fill lock, and how long others wait for it.
AGENCY_CACHE_FILL_LOCK_TIMEOUT = env.float("AGENCY_CACHE_FILL_LOCK_TIMEOUT", default=30.0)
AGENCY_CACHE_FILL_WAIT = env.float("AGENCY_CACHE_FILL_WAIT", default=10.0)
# Warming: how many of the most-read keys `cache_warm` loads by default.
AGENCY_CACHE_WARM_LIMIT = env.int("AGENCY_CACHE_WARM_LIMIT", default=1000)
# Access counts (a Redis sorted set) keep only this many of the most-read keys.
AGENCY_CACHE_ACCESS_MAX_KEYS = env.int("AGENCY_CACHE_ACCESS_MAX_KEYS", default=200_000)

# Agent sessions (`session:{agent_id}` in Redis).
AGENCY_AGENT_SESSION_TTL = env.int("AGENCY_AGENT_SESSION_TTL", default=3600)
AGENCY_AGENT_SESSION_MAX_TTL = env.int("AGENCY_AGENT_SESSION_MAX_TTL", default=7 * 24 * 3600)
AGENCY_AGENT_SESSION_MAX_BYTES = env.int("AGENCY_AGENT_SESSION_MAX_BYTES", default=64 * 1024)
