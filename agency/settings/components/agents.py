"""Settings of the agents app, read from the environment (see README)."""

from agency.settings.environment import env

# Largest accepted `capabilities` object, in bytes of its JSON encoding (400 naming the field beyond).
AGENCY_AGENT_MAX_CAPABILITIES_BYTES = env.int("AGENCY_AGENT_MAX_CAPABILITIES_BYTES", default=64 * 1024)
