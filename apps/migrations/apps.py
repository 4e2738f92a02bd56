from django.apps import AppConfig
from django.core import checks

from apps.migrations.checks import deprecated_env_check


class SchemaConfig(AppConfig):
    """The schema app: schema evolution, backups and database maintenance.

    Its folder is `apps/migrations` (the design names it so); everything else uses the label
    `schema`: tables `schema_*`, tasks `agency.schema.*`, settings `agency/settings/components/schema.py`.
    """

    name = "apps.migrations"
    label = "schema"
    verbose_name = "Schema, backups and maintenance"

    def ready(self) -> None:
        checks.register(deprecated_env_check, checks.Tags.compatibility)
