"""Each task goes into its agent's tenant (agents.0003 gave every agent one), the rest into `default`.

Two bulk UPDATEs, no rows through Python. A running task's lease keeps working: the lease check
also compares the credential, and rows leased before this migration have none (''), so their
workers' heartbeat/complete/fail would be refused (409) and the reaper would give the task back to
the queue when the lease expires. Rather than that, running tasks are not touched here beyond
their tenant: see apps.tasks.services (an empty `lease_credential` is accepted from any
credential of the task's tenant, which is all a lease of that time could promise).

Reversible: going back clears `task.tenant`.
"""

from django.db import migrations
from django.db.models import OuterRef, Subquery


def tasks_to_tenants(apps, schema_editor):
    db = schema_editor.connection.alias
    Tenant = apps.get_model("tenants", "Tenant")
    Agent = apps.get_model("agents", "Agent")
    Task = apps.get_model("tasks", "Task")
    Task.objects.using(db).filter(tenant__isnull=True, agent__isnull=False).update(
        tenant=Subquery(Agent.objects.using(db).filter(pk=OuterRef("agent_id")).values("tenant")[:1]))
    if Task.objects.using(db).filter(tenant__isnull=True).exists():
        default, _ = Tenant.objects.using(db).get_or_create(slug="default", defaults={"name": "Default tenant"})
        Task.objects.using(db).filter(tenant__isnull=True).update(tenant=default)


def clear_tenants(apps, schema_editor):
    apps.get_model("tasks", "Task").objects.using(schema_editor.connection.alias).update(tenant=None)


class Migration(migrations.Migration):
    dependencies = [
        ("tasks", "0003_task_tenant"),
        ("agents", "0003_namespaces_to_tenants"),
    ]

    operations = [migrations.RunPython(tasks_to_tenants, clear_tenants)]
