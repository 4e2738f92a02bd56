from django.apps import AppConfig


class CommonConfig(AppConfig):
    """The small pieces every domain app shares: the base model, the error hierarchy, pagination."""

    name = "apps.common"
    label = "common"
    verbose_name = "Common"
