"""Settings of the audit app, read from the environment (see README)."""

from agency.settings.environment import env

AGENCY_ACCESS_LOG_ENABLED = env.bool("AGENCY_ACCESS_LOG_ENABLED", default=True)
AGENCY_ACCESS_LOG_PATHS = env.list("AGENCY_ACCESS_LOG_PATHS", default=["/api/"])
AGENCY_ACCESS_LOG_BUFFER_MAX = env.int("AGENCY_ACCESS_LOG_BUFFER_MAX", default=100_000)
