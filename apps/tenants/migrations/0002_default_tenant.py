"""The `default` tenant, which today's agents, tasks and collections will be moved into.

Reversible: going back deletes it (and only it), which fails loudly if something already points
at it, rather than leaving rows without their tenant.
"""

from django.db import migrations

DEFAULT_SLUG = "default"


def create_default(apps, schema_editor):
    Tenant = apps.get_model("tenants", "Tenant")
    Tenant.objects.using(schema_editor.connection.alias).get_or_create(
        slug=DEFAULT_SLUG, defaults={"name": "Default tenant", "active": True})


def delete_default(apps, schema_editor):
    Tenant = apps.get_model("tenants", "Tenant")
    Tenant.objects.using(schema_editor.connection.alias).filter(slug=DEFAULT_SLUG).delete()


class Migration(migrations.Migration):
    dependencies = [("tenants", "0001_initial")]

    operations = [migrations.RunPython(create_default, delete_default)]
