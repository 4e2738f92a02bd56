"""Settings of the agents app, read from the environment (see README)."""

from agency.settings.base import env  # noqa: F401
