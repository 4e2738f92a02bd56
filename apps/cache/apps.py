import logging

from django.apps import AppConfig


class CacheConfig(AppConfig):
    name = "apps.cache"
    label = "cache"
    verbose_name = "Cache"

    def ready(self) -> None:
        from django.conf import settings

        from apps.cache import metrics, signals
        from apps.cache.backend import ThrottleFilter

        signals.connect()
        metrics.register()
        # django-redis (IGNORE_EXCEPTIONS) logs every failed call: once per interval is enough.
        redis_logger = logging.getLogger(getattr(settings, "DJANGO_REDIS_LOGGER", "django_redis.cache"))
        if not any(isinstance(f, ThrottleFilter) for f in redis_logger.filters):
            redis_logger.addFilter(ThrottleFilter(settings.AGENCY_CACHE_ERROR_LOG_INTERVAL))
