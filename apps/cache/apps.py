from django.apps import AppConfig


class CacheConfig(AppConfig):
    name = "apps.cache"
    label = "cache"
    verbose_name = "Cache"
