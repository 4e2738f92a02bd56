"""PostgreSQL row-level security behind the application's own tenant scoping (apps/platform/db/tenancy.py).

As the application's login role: raw SQL with no tenant setting sees no row of the four tenant
tables, tenant A's setting sees only A's, and a deliberately unscoped ORM query inside a request
still returns only the request tenant's rows.
"""

from __future__ import annotations

import numpy as np
import psycopg
import pytest
from django.db import connection, transaction
from django.test import override_settings
from django.urls import path
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.agents.models import Agent
from apps.agents.tests.factories import AgentFactory
from apps.embeddings.models import Collection, Embedding
from apps.embeddings.services.collections import collection_create
from apps.embeddings.services.ingest import embeddings_upsert
from apps.platform.db import tenancy
from apps.tasks.models import Task
from apps.tasks.tests.factories import TaskFactory
from apps.tenants.permissions import HasScopes

TABLES = {"agents_agent": Agent, "tasks_task": Task, "embeddings_collection": Collection,
          "embeddings_embedding": Embedding}


class UnscopedCounts(APIView):
    """A view that forgets to scope its querysets: only the database's policies protect the data."""

    permission_classes = [HasScopes]
    required_scopes = "agents:read"

    def get(self, request):
        return Response({table: model.objects.count() for table, model in TABLES.items()})


urlpatterns = [path("rls-probe/", UnscopedCounts.as_view())]


def _fill(tenant, n: int) -> None:
    for i in range(n):
        TaskFactory(agent=AgentFactory(tenant=tenant, name=f"{tenant.slug}-{i}"), tenant=tenant)
    col = collection_create(tenant_id=tenant.pk, name=f"{tenant.slug}-mem", dimension=3, index_type="none")
    vectors = np.random.default_rng(n).normal(size=(n, 3))
    embeddings_upsert(collection=col, items=[{"entity_type": "doc", "entity_id": str(i), "vector": v.tolist()}
                                             for i, v in enumerate(vectors)])


def _counts_as_login_role(setting: str | None) -> dict[str, int]:
    """Counts through a fresh connection as the application's login role (what DATABASE_URL names)."""
    s = connection.settings_dict
    with psycopg.connect(host=s["HOST"], port=s["PORT"], dbname=s["NAME"], user=s["USER"],
                         password=s.get("PASSWORD") or None, autocommit=True) as conn:
        if setting is not None:
            conn.execute("SELECT set_config('agency.tenant_id', %s, false)", [setting])
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}  # noqa: S608


def _expected(tenant) -> dict[str, int]:
    return {"agents_agent": Agent.objects.filter(tenant=tenant).count(),
            "tasks_task": Task.objects.filter(tenant=tenant).count(),
            "embeddings_collection": Collection.objects.filter(tenant=tenant).count(),
            "embeddings_embedding": Embedding.objects.filter(collection__tenant=tenant).count()}


@pytest.fixture
def two_tenants(tenant_a, tenant_b):
    _fill(tenant_a.tenant, 3)
    _fill(tenant_b.tenant, 5)
    return tenant_a, tenant_b


@pytest.mark.django_db
def test_the_login_role_neither_owns_the_tables_nor_bypasses_the_policies():
    with connection.cursor() as cur:
        cur.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = session_user")
        assert cur.fetchone() == (False, False)
        cur.execute("SELECT c.relname, c.relrowsecurity, pg_get_userbyid(c.relowner), "
                    "pg_has_role(session_user, c.relowner, 'USAGE') FROM pg_class c WHERE c.relname = ANY(%s)",
                    [list(TABLES)])
        rows = {name: rest for name, *rest in cur.fetchall()}
    assert set(rows) == set(TABLES)
    for name, (rls, owner, inherits_owner) in rows.items():
        assert rls, f"{name}: row-level security is off"
        assert owner == tenancy.owner_role(), name
        assert not inherits_owner, f"{name}: the login role holds the owner's rights"


@pytest.mark.django_db(transaction=True)
def test_raw_sql_as_the_login_role_sees_nothing_without_a_tenant_and_only_that_tenant_with_one(two_tenants):
    a, b = two_tenants
    assert _counts_as_login_role(None) == dict.fromkeys(TABLES, 0)
    assert _counts_as_login_role("") == dict.fromkeys(TABLES, 0)
    assert _counts_as_login_role(str(a.tenant.pk)) == _expected(a.tenant) == {
        "agents_agent": 3, "tasks_task": 3, "embeddings_collection": 1, "embeddings_embedding": 3}
    assert _counts_as_login_role(str(b.tenant.pk)) == _expected(b.tenant)
    everything = {t: m.objects.count() for t, m in TABLES.items()}
    assert _counts_as_login_role("*") == everything
    assert everything["agents_agent"] >= 8


@pytest.mark.django_db(transaction=True)
def test_a_tenant_cannot_write_a_row_into_another_tenant(two_tenants):
    a, b = two_tenants
    agent = Agent.objects.filter(tenant=a.tenant).first()
    s = connection.settings_dict
    with psycopg.connect(host=s["HOST"], port=s["PORT"], dbname=s["NAME"], user=s["USER"], autocommit=True) as conn:
        conn.execute("SELECT set_config('agency.tenant_id', %s, false)", [str(a.tenant.pk)])
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            conn.execute("UPDATE agents_agent SET tenant_id = %s WHERE id = %s", [b.tenant.pk, agent.pk])
        conn.execute("SELECT set_config('agency.tenant_id', %s, false)", [str(b.tenant.pk)])
        assert conn.execute("UPDATE agents_agent SET name = 'taken' WHERE id = %s", [agent.pk]).rowcount == 0
        assert conn.execute("DELETE FROM embeddings_embedding WHERE collection_id IN "
                            "(SELECT id FROM embeddings_collection WHERE tenant_id = %s)", [a.tenant.pk]).rowcount == 0
    agent.refresh_from_db()
    assert agent.name != "taken" and agent.tenant_id == a.tenant.pk


@override_settings(ROOT_URLCONF=__name__)
def test_an_unscoped_orm_query_inside_a_request_returns_only_the_request_tenants_rows(two_tenants, operator_client):
    a, b = two_tenants
    for caller in (a, b):
        response = caller.client.get("/rls-probe/")
        assert response.status_code == 200, response.content
        assert response.json() == _expected(caller.tenant)
    everything = {t: m.objects.count() for t, m in TABLES.items()}
    assert operator_client.get("/rls-probe/").json() == everything  # operators work across tenants
    named = operator_client.get("/rls-probe/", HTTP_X_AGENCY_TENANT=b.tenant.slug)
    assert named.json() == _expected(b.tenant)


def test_tenant_scope_blocks_scope_the_orm_outside_requests(two_tenants):
    a, b = two_tenants
    with tenancy.tenant_scope(a.tenant.pk):
        assert Agent.objects.count() == 3
        with tenancy.all_tenants():
            assert Agent.objects.count() == 8
        assert Embedding.objects.count() == 3
    with tenancy.tenant_scope(b.tenant.pk):
        assert Agent.objects.count() == 5


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_transaction_does_not_leave_its_tenant_on_the_connection(two_tenants):
    """Inside a transaction the setting is transaction-local: a rollback cannot strand it for the next code."""
    a, b = two_tenants
    with tenancy.tenant_scope(a.tenant.pk):
        assert Agent.objects.count() == 3  # session-level now: outside a transaction
    with pytest.raises(RuntimeError), tenancy.tenant_scope(b.tenant.pk), transaction.atomic():
        assert Agent.objects.count() == 5
        raise RuntimeError
    with tenancy.tenant_scope(b.tenant.pk):
        assert Agent.objects.count() == 5
    with tenancy.tenant_scope(a.tenant.pk), transaction.atomic():
        assert Agent.objects.count() == 3


@pytest.mark.django_db(transaction=True)
@override_settings(AGENCY_DB_TENANT_SETTING="transaction")
def test_transaction_mode_never_leaves_a_tenant_on_the_session(two_tenants):
    """Behind PgBouncer in transaction mode a session setting could reach another client: never make one."""
    a, b = two_tenants
    connection.close()
    with tenancy.tenant_scope(a.tenant.pk):
        assert Agent.objects.count() == 3  # autocommit: run in a transaction of its own
        with transaction.atomic():
            assert Agent.objects.count() == 3
            assert Task.objects.count() == 3
    with tenancy.tenant_scope(b.tenant.pk):
        assert Agent.objects.count() == 5
    raw = connection.connection
    assert raw.execute("SELECT current_setting('agency.tenant_id', true)").fetchone()[0] in (None, "")
