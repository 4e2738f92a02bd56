"""Namespaces become tenants (agents 0002-0005, tasks 0003-0005), with data, and back again."""

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings

from apps.migrations.services import postgres

pytestmark = pytest.mark.django_db


def test_namespaces_become_tenants_and_the_migrations_run_backwards_and_forwards():
    scratch = f"agency_tenancy_{os.getpid()}"
    postgres.database_drop(scratch)
    postgres.database_create(scratch)
    try:
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "agency.settings.test",
               "DATABASE_URL": postgres.ConnInfo.current().using(scratch).url()}
        proc = subprocess.run([sys.executable, "-m", "apps.agents.tests.tenancy_migration"], env=env,
                              cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        result = json.loads(proc.stdout.strip().splitlines()[-1])
    finally:
        postgres.database_drop(scratch)

    forward = result["forward"]
    # a namespace that is a slug becomes (or joins) that tenant; others get a derived, unique slug
    assert [slug for slug, _ in forward["tenants"]] == ["acme", "default", "ns-x", "team-a", "team-a-2"]
    assert ["team-a-2", "Team A"] in forward["tenants"]
    assert dict(forward["agents"]) == {"a-acme": "acme", "a-acme-2": "acme", "a-default": "default",
                                       "a-short": "ns-x", "a-team-slug": "team-a", "a-team-space": "team-a-2"}
    # a task goes with its agent; one without an agent goes to default
    assert dict(forward["tasks"]) == {"k-acme": "acme", "k-no-agent": "default", "k-team-space": "team-a-2"}
    assert "(tenant_id, priority DESC, created_at) WHERE" in result["claim_index"]
    # backwards: the namespace column is back, filled with the tenant's slug, and no row has a tenant
    assert [(name, ns) for name, ns, _ in result["back"]] == [
        ("a-acme", "acme"), ("a-acme-2", "acme"), ("a-default", "default"), ("a-short", "ns-x"),
        ("a-team-slug", "team-a"), ("a-team-space", "team-a-2")]
    assert all(tenant is None for _, _, tenant in result["back"])
    assert result["tasks_without_tenant_back"] == 3
    # and forwards again: the same tenants (found by slug, none made twice), the same assignment
    assert result["again"] == forward
