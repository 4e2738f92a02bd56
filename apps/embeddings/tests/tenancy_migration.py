"""Run as a separate process on a scratch database (DATABASE_URL): the collection tenant string →
tenant migrations (embeddings 0005-0008) with data, forward, back and forward again. Prints one JSON
line with what it found at each step.

A separate process because going back brings back a column the test session's own models lack.
"""

from __future__ import annotations

import json
import os
import sys

UNIQUE_SQL = "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'emb_collection_tenant_name'"


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agency.settings.test")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    def migrate(*args: str) -> None:
        call_command("migrate", *args, verbosity=0, interactive=False)

    def rows() -> dict:
        with connection.cursor() as cur:
            cur.execute("SELECT slug, name FROM tenants_tenant ORDER BY slug")
            tenants = cur.fetchall()
            cur.execute("SELECT c.name || '@' || c.dimension, t.slug FROM embeddings_collection c "
                        "LEFT JOIN tenants_tenant t ON t.id = c.tenant_id ORDER BY 1")
            collections = cur.fetchall()
            cur.execute("SELECT e.entity_id, c.name, c.dimension FROM embeddings_embedding e "
                        "JOIN embeddings_collection c ON c.id = e.collection_id ORDER BY 1")
            embeddings = cur.fetchall()
            cur.execute(UNIQUE_SQL)
            unique = cur.fetchone()[0]
        return {"tenants": tenants, "collections": collections, "embeddings": embeddings, "unique": unique}

    migrate("embeddings", "0004_collection_index_deferred")
    old = MigrationExecutor(connection).loader.project_state([("embeddings", "0004_collection_index_deferred")]).apps
    Collection, Embedding = old.get_model("embeddings", "Collection"), old.get_model("embeddings", "Embedding")
    strings = [("docs", 2, "default"), ("docs", 3, "acme"), ("c", 4, "Team_A"), ("c", 5, "team-a"), ("c", 6, "x")]
    made = {(name, dim): Collection.objects.create(name=name, dimension=dim, tenant=tenant, index_type="none")
            for name, dim, tenant in strings}
    Embedding.objects.create(collection=made[("docs", 3)], entity_type="doc", entity_id="e1", vector=[1, 2, 3])

    migrate()
    forward = rows()
    migrate("embeddings", "0004_collection_index_deferred")
    with connection.cursor() as cur:
        cur.execute("SELECT name || '@' || dimension, tenant FROM embeddings_collection ORDER BY 1")
        back = cur.fetchall()
        cur.execute(UNIQUE_SQL)
        unique_back = cur.fetchone()[0]
    migrate()
    print(json.dumps({"forward": forward, "back": back, "unique_back": unique_back, "again": rows()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
