from django.apps import AppConfig


class CacheConfig(AppConfig):
    name = "apps.cache"
    label = "cache"
    verbose_name = "Cache"

    def ready(self) -> None:
        from apps.cache import signals

        signals.connect()
