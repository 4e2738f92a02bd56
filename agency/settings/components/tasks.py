"""Settings of the tasks app, read from the environment (see README)."""

from agency.settings.base import env  # noqa: F401
