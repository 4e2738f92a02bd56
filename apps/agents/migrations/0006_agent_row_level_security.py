"""Row-level security on the agents table: a row is visible and writable only under its tenant's scope.

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
    "ALTER TABLE agents_agent ENABLE ROW LEVEL SECURITY",
    f"CREATE POLICY tenant_isolation ON agents_agent USING ({VISIBLE}) WITH CHECK ({VISIBLE})",
]
BACKWARD = [
    "DROP POLICY IF EXISTS tenant_isolation ON agents_agent",
    "ALTER TABLE agents_agent DISABLE ROW LEVEL SECURITY",
]


class Migration(migrations.Migration):
    dependencies = [("agents", "0005_remove_agent_namespace")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
