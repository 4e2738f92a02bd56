from django.apps import AppConfig


class CacheConfig(AppConfig):
    """The cache as a domain app (warming rules, stats snapshots, the cache API) over `apps.platform.cache`."""

    name = "apps.cache"
    label = "cache"
    verbose_name = "Cache"

    def ready(self) -> None:
        from apps.cache.models import WarmingRule
        from apps.platform.cache.rows import register_cached_model
        from apps.platform.cache.setup import setup

        setup()  # the engine's wiring (the platform's AppConfig may run it instead: it is idempotent)
        register_cached_model(WarmingRule)  # rules are read by id through the row cache by every warm run
