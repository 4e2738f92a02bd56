"""Row-level security on the tasks table: a row is visible and writable only under its tenant's scope.

The scope is the setting `agency.tenant_id` (apps/platform/db/tenancy.py): a tenant id, `*` for
every tenant, or unset for none. Both sides of the OR are InitPlans, evaluated once per statement;
the application's own `tenant_id = …` predicates keep using the indexes. The owner (migrations,
DDL, upkeep, backups) is exempt, the login role is not.
"""

from django.db import migrations

VISIBLE = (
    "(SELECT current_setting('agency.tenant_id', true) = '*') OR tenant_id = ("
    "SELECT CASE WHEN current_setting('agency.tenant_id', true) ~ '^[0-9]{1,18}$' "
    "THEN current_setting('agency.tenant_id', true)::bigint END)"
)

FORWARD = [
    "ALTER TABLE tasks_task ENABLE ROW LEVEL SECURITY",
    f"CREATE POLICY tenant_isolation ON tasks_task USING ({VISIBLE}) WITH CHECK ({VISIBLE})",
]
BACKWARD = [
    "DROP POLICY IF EXISTS tenant_isolation ON tasks_task",
    "ALTER TABLE tasks_task DISABLE ROW LEVEL SECURITY",
]


class Migration(migrations.Migration):
    dependencies = [("tasks", "0005_task_tenant_required")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
