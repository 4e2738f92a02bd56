from django.apps import AppConfig


class TenantsConfig(AppConfig):
    """Tenants, their API keys, and the DRF authentication, scope permission and throttle built on them."""

    name = "apps.tenants"
    label = "tenants"
    verbose_name = "Tenants and API keys"

    def ready(self) -> None:
        from apps.platform.cache import register_cached_model
        from apps.platform.db import tenancy
        from apps.tenants import checks  # noqa: F401  (registers the settings check)
        from apps.tenants.models import Tenant
        from apps.tenants.selectors import request_db_scope

        tenancy.set_request_resolver(request_db_scope)
        # quotas.py reads a tenant's limits through the row cache: a save must drop the cached row
        register_cached_model(Tenant)
