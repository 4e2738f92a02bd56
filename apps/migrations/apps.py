from django.apps import AppConfig


class SchemaConfig(AppConfig):
    name = "apps.migrations"
    label = "schema"
    verbose_name = "Schema and backups"
