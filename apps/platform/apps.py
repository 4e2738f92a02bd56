from django.apps import AppConfig


class PlatformConfig(AppConfig):
    """The platform layer as an installed app: it has no models, only the database receivers.

    (The token-lookup cache and its invalidation receivers are gone: token authentication reads
    the row on every request, apps/platform/http/authentication.py.)
    """

    name = "apps.platform"
    label = "platform"
    verbose_name = "Platform"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from apps.platform.db import tenancy
        from apps.platform.http import middleware  # noqa: F401  (registers its system checks)

        # Row-level security: every connection runs under the current tenant scope.
        connection_created.connect(tenancy.on_connection_created, dispatch_uid="apps.platform.db.tenancy.scope")
