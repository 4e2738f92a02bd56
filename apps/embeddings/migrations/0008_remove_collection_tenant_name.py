"""Drop the old tenant string: the foreign key is the one concept now (the API shows the slug).

Reversible: going back re-adds the column and fills it with each collection's tenant slug (the
string it came from, or the slug 0006 derived from it).
"""

from django.db import migrations


def name_from_tenant(apps, schema_editor):
    db = schema_editor.connection.alias
    Collection = apps.get_model("embeddings", "Collection")
    Tenant = apps.get_model("tenants", "Tenant")
    for tenant_id, slug in Tenant.objects.using(db).values_list("id", "slug"):
        Collection.objects.using(db).filter(tenant_id=tenant_id).update(tenant_name=slug)


class Migration(migrations.Migration):
    dependencies = [("embeddings", "0007_collection_tenant_required")]

    operations = [
        # Backwards, the column comes back first (RemoveField reversed), then this fills it.
        migrations.RunPython(migrations.RunPython.noop, name_from_tenant),
        migrations.RemoveField(model_name="collection", name="tenant_name"),
    ]
