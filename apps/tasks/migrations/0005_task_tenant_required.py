"""Every task has a tenant; the claim, history and per-agent indexes lead with tenant_id.

The claim index keeps its name (`tasks_claim_idx`) with tenant_id in front, so a claim by one
tenant is still an ordered read of a few index entries. `tasks_tenant_created_idx` serves the
history list (newest first, per tenant) and the tenant foreign key.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("tasks", "0004_tasks_to_agent_tenants")]

    operations = [
        migrations.AlterField(
            model_name="task",
            name="tenant",
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name="+",
                                    to="tenants.tenant"),
        ),
        migrations.RemoveIndex(model_name="task", name="tasks_claim_idx"),
        migrations.RemoveIndex(model_name="task", name="tasks_agent_status_idx"),
        migrations.RemoveIndex(model_name="task", name="tasks_type_status_idx"),
        migrations.AddIndex(
            model_name="task",
            index=models.Index(models.F("tenant"), models.OrderBy(models.F("priority"), descending=True),
                               models.F("created_at"), condition=models.Q(("status", "pending")),
                               name="tasks_claim_idx"),
        ),
        migrations.AddIndex(
            model_name="task",
            index=models.Index(fields=["tenant", "created_at"], name="tasks_tenant_created_idx"),
        ),
        migrations.AddIndex(
            model_name="task",
            index=models.Index(fields=["tenant", "agent", "status"], name="tasks_tenant_agent_status_idx"),
        ),
        migrations.AddIndex(
            model_name="task",
            index=models.Index(fields=["tenant", "type", "status"], name="tasks_tenant_type_status_idx"),
        ),
    ]
