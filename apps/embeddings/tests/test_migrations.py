"""Collection tenant strings become tenants (embeddings 0005-0008), with data, and back again."""

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings

from apps.migrations.services import postgres

pytestmark = pytest.mark.django_db


def test_tenant_strings_become_tenants_and_the_migrations_run_backwards_and_forwards():
    scratch = f"agency_emb_tenancy_{os.getpid()}"
    postgres.database_drop(scratch)
    postgres.database_create(scratch)
    try:
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "agency.settings.test",
               "DATABASE_URL": postgres.ConnInfo.current().using(scratch).url()}
        proc = subprocess.run([sys.executable, "-m", "apps.embeddings.tests.tenancy_migration"], env=env,
                              cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        result = json.loads(proc.stdout.strip().splitlines()[-1])
    finally:
        postgres.database_drop(scratch)

    forward = result["forward"]
    # a string that is a slug becomes (or joins) that tenant; others get a derived, unique slug
    assert [slug for slug, _ in forward["tenants"]] == ["acme", "default", "t-x", "team-a", "team-a-2"]
    assert ["team-a-2", "Team_A"] in forward["tenants"]
    assert dict(forward["collections"]) == {"docs@2": "default", "docs@3": "acme", "c@4": "team-a-2",
                                            "c@5": "team-a", "c@6": "t-x"}
    assert forward["embeddings"] == [["e1", "docs", 3]]  # embeddings stay with their collection
    assert forward["unique"] == "UNIQUE (tenant_id, name)"
    # backwards: the string is back, filled with the tenant's slug; the old unique rule holds again
    assert dict(result["back"]) == {"docs@2": "default", "docs@3": "acme", "c@4": "team-a-2", "c@5": "team-a",
                                    "c@6": "t-x"}
    assert result["unique_back"] == "UNIQUE (tenant, name)"
    # and forwards again: the same tenants (found by slug, none made twice), the same assignment
    assert result["again"] == forward
