"""Settings of the ops app, read from the environment (see README)."""

from agency.settings.base import env  # noqa: F401
