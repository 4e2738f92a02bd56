from django.apps import AppConfig


class TenantsConfig(AppConfig):
    """Tenants, their API keys, and the DRF authentication, scope permission and throttle built on them."""

    name = "apps.tenants"
    label = "tenants"
    verbose_name = "Tenants and API keys"

    def ready(self) -> None:
        from apps.tenants import checks  # noqa: F401  (registers the settings check)
