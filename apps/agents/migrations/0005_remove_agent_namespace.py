"""Drop `namespace`: the tenant is the one concept now (the API keeps `namespace` as a read-only alias).

Reversible: going back re-adds the column and fills it with each agent's tenant slug (which is
the namespace it came from, or the slug derived from it by 0003).
"""

from django.db import migrations


def namespace_from_tenant(apps, schema_editor):
    db = schema_editor.connection.alias
    Agent = apps.get_model("agents", "Agent")
    Tenant = apps.get_model("tenants", "Tenant")
    for tenant_id, slug in Tenant.objects.using(db).values_list("id", "slug"):
        Agent.objects.using(db).filter(tenant_id=tenant_id).update(namespace=slug)


class Migration(migrations.Migration):
    dependencies = [("agents", "0004_agent_tenant_required")]

    operations = [
        # Backwards, the column comes back first (RemoveField reversed), then this fills it.
        migrations.RunPython(migrations.RunPython.noop, namespace_from_tenant),
        migrations.RemoveField(model_name="agent", name="namespace"),
    ]
