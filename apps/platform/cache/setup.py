"""The cache's start-up wiring, run from an AppConfig.ready() (idempotent: safe to call twice).

* row-cache invalidation receivers for ``settings.AGENCY_CACHED_MODELS`` (`rows`);
* the Prometheus collector of the cache counters (`metrics`).
"""

from __future__ import annotations

from django.conf import settings

from apps.platform.cache.metrics import register as register_metrics
from apps.platform.cache.rows import register_cached_models


def setup() -> None:
    """Connect the receivers and register the metrics."""
    register_cached_models(getattr(settings, "AGENCY_CACHED_MODELS", []))
    register_metrics()
