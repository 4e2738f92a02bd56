"""The cache's start-up wiring, run from an AppConfig.ready() (idempotent: safe to call twice).

* row-cache invalidation receivers for ``settings.AGENCY_CACHED_MODELS`` (`rows`);
* the Prometheus collector of the cache counters (`metrics`);
* a throttle on django-redis's logger: with IGNORE_EXCEPTIONS it logs every failed call, which
  with Redis down means once per request; once per ``AGENCY_CACHE_ERROR_LOG_INTERVAL`` is enough.
"""

from __future__ import annotations

import logging

from django.conf import settings

from apps.platform.cache.guards import ThrottleFilter
from apps.platform.cache.metrics import register as register_metrics
from apps.platform.cache.rows import register_cached_models


def setup() -> None:
    """Connect the receivers, register the metrics and throttle django-redis's error log."""
    register_cached_models(getattr(settings, "AGENCY_CACHED_MODELS", []))
    register_metrics()
    redis_logger = logging.getLogger(getattr(settings, "DJANGO_REDIS_LOGGER", "django_redis.cache"))
    if not any(isinstance(f, ThrottleFilter) for f in redis_logger.filters):
        redis_logger.addFilter(ThrottleFilter(settings.AGENCY_CACHE_ERROR_LOG_INTERVAL))
