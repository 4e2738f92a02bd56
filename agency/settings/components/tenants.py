"""Settings of the tenants app (API keys, scopes, throttles), read from the environment (see README)."""

from agency.settings.environment import env

# Default request rate of a tenant whose `request_rate` is empty, and of users (operators, DRF
# tokens); DRF syntax: <n>/<second|minute|hour|day>. Counted in Redis per tenant and per key.
AGENCY_API_RATE = env("AGENCY_API_RATE", default="6000/minute")
# Rate of one API key; empty: the tenant's rate (a single key may then use the tenant's whole budget).
AGENCY_API_KEY_RATE = env("AGENCY_API_KEY_RATE", default="")
# An API key's `last_used_at` is written at most this often (seconds), not once per request.
AGENCY_API_KEY_LAST_USED_INTERVAL = env.float("AGENCY_API_KEY_LAST_USED_INTERVAL", default=60.0)
