"""Every agent has a tenant; names are unique per tenant; the indexes lead with tenant_id."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("agents", "0003_namespaces_to_tenants")]

    operations = [
        migrations.AlterField(
            model_name="agent",
            name="tenant",
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name="+",
                                    to="tenants.tenant"),
        ),
        migrations.RemoveConstraint(model_name="agent", name="agents_agent_unique_name_in_namespace"),
        migrations.AddConstraint(
            model_name="agent",
            constraint=models.UniqueConstraint(fields=("tenant", "name"), name="agents_agent_unique_name_in_tenant"),
        ),
        migrations.RemoveIndex(model_name="agent", name="agents_status_type_idx"),
        migrations.AddIndex(
            model_name="agent",
            index=models.Index(fields=["tenant", "status", "type"], name="agents_tenant_status_type_idx"),
        ),
    ]
