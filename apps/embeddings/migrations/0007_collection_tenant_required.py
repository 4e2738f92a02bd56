"""Every collection has a tenant; names are unique per tenant (the btree leads with tenant_id)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("embeddings", "0006_collection_tenants")]

    operations = [
        migrations.AlterField(
            model_name="collection",
            name="tenant",
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name="+",
                                    to="tenants.tenant"),
        ),
        migrations.AddConstraint(
            model_name="collection",
            constraint=models.UniqueConstraint(fields=("tenant", "name"), name="emb_collection_tenant_name"),
        ),
        migrations.AlterModelOptions(name="collection", options={"ordering": ["tenant_id", "name"]}),
    ]
