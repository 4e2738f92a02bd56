"""Row-level security on collections and embeddings: a row is visible and writable only under its tenant's scope.

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
# An embedding is visible exactly when its collection is (the collections' own policy applies in
# the subquery): a hashed SubPlan, one scan of the collections per statement.
EMBEDDING_VISIBLE = "collection_id IN (SELECT id FROM embeddings_collection)"

FORWARD = [
    "ALTER TABLE embeddings_collection ENABLE ROW LEVEL SECURITY",
    f"CREATE POLICY tenant_isolation ON embeddings_collection USING ({VISIBLE}) WITH CHECK ({VISIBLE})",

    "ALTER TABLE embeddings_embedding ENABLE ROW LEVEL SECURITY",
    f"CREATE POLICY tenant_isolation ON embeddings_embedding USING ({EMBEDDING_VISIBLE}) WITH CHECK ({EMBEDDING_VISIBLE})",
]
BACKWARD = [
    "DROP POLICY IF EXISTS tenant_isolation ON embeddings_embedding",
    "ALTER TABLE embeddings_embedding DISABLE ROW LEVEL SECURITY",

    "DROP POLICY IF EXISTS tenant_isolation ON embeddings_collection",
    "ALTER TABLE embeddings_collection DISABLE ROW LEVEL SECURITY",
]


class Migration(migrations.Migration):
    dependencies = [("embeddings", "0008_remove_collection_tenant_name")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
