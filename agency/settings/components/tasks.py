"""Settings of the tasks app, read from the environment (see README)."""

from agency.settings.environment import env

# Largest accepted task `data` / `result` object, in bytes of its JSON encoding (413 beyond).
AGENCY_TASK_MAX_PAYLOAD_BYTES = env.int("AGENCY_TASK_MAX_PAYLOAD_BYTES", default=256 * 1024)
# How long a claim holds a task before the reaper may hand it to another worker (seconds).
AGENCY_TASK_LEASE_SECONDS = env.int("AGENCY_TASK_LEASE_SECONDS", default=300)
# Largest `limit` a single claim may ask for.
AGENCY_TASK_MAX_CLAIM = env.int("AGENCY_TASK_MAX_CLAIM", default=100)
# Retry backoff after a failure: base * 2**(attempts-1) seconds, capped.
AGENCY_TASK_BACKOFF_BASE_SECONDS = env.float("AGENCY_TASK_BACKOFF_BASE_SECONDS", default=5.0)
AGENCY_TASK_BACKOFF_MAX_SECONDS = env.float("AGENCY_TASK_BACKOFF_MAX_SECONDS", default=3600.0)
# Default attempts before a failing task is marked failed.
AGENCY_TASK_DEFAULT_MAX_ATTEMPTS = env.int("AGENCY_TASK_DEFAULT_MAX_ATTEMPTS", default=3)
