"""System checks of the schema app: settings still given under their names from before issue #12."""

from __future__ import annotations

import os
from typing import Any

from django.core.checks import CheckMessage, Warning

# old environment variable -> the one that replaced it (the old one is still read as a fallback)
RENAMED_ENV = {"AGENCY_OPS_LOCK_TTL": "AGENCY_SCHEMA_LOCK_TTL"}


def deprecated_env_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Warn about each deprecated variable still set, so operators rename it before it is dropped."""
    return [
        Warning(f"{old} is deprecated: rename it to {new}" + (" (which is set and wins)" if new in os.environ else ""),
                hint=f"{old} is read only when {new} is unset; support for it will be removed.",
                id="schema.W001")
        for old, new in RENAMED_ENV.items() if old in os.environ
    ]
