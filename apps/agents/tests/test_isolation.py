"""Two tenants × every agents endpoint: own data works, the other's is 404 and stays unchanged, scopes 403.

Each tenant calls with its own API key (the `tenant_a` / `tenant_b` fixtures of the root conftest).
"Unchanged" is checked on the whole row as PostgreSQL prints it (`table_snapshot`) and on the
session's raw bytes in Redis.
"""

import pytest
from django_redis import get_redis_connection

from apps.agents.tests.factories import AgentFactory
from apps.tasks.tests.factories import TaskFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/agents/"


def _session_key(agent) -> str:
    return f"session:{agent.pk}"


@pytest.fixture
def a_agent(tenant_a):
    """Tenant A's agent, with a finished task (for stats) and a live session."""
    agent = AgentFactory(tenant=tenant_a.tenant, name="a-bot", capabilities={"secret": "a-only"})
    TaskFactory(agent=agent, status="completed")
    r = tenant_a.client.put(f"{URL}{agent.pk}/session/", {"data": {"step": 1}, "ttl": 600}, format="json")
    assert r.status_code == 200, r.content
    return agent


# (method, path under the agent, body): every route that names an agent
AGENT_ROUTES = [
    ("get", "", None),
    ("patch", "", {"version": 1, "name": "stolen"}),
    ("delete", "", None),
    ("get", "stats/", None),
    ("get", "session/", None),
    ("put", "session/", {"data": {"forged": True}}),
    ("patch", "session/", {"data": {"forged": True}}),
    ("delete", "session/", None),
]


@pytest.mark.parametrize(("method", "path", "body"), AGENT_ROUTES, ids=[f"{m} {p or '.'}" for m, p, _ in AGENT_ROUTES])
def test_another_tenants_agent_is_404_and_left_unchanged(tenant_a, tenant_b, a_agent, table_snapshot, method, path,
                                                         body):
    redis = get_redis_connection("default")
    rows_before = table_snapshot("agents_agent", tenant_a.tenant.pk)
    tasks_before = table_snapshot("tasks_task", tenant_a.tenant.pk)
    session_before = redis.get(_session_key(a_agent))
    tenant_a.client.get(f"{URL}{a_agent.pk}/")  # A's read puts the row in the cache: B must not get it from there

    r = getattr(tenant_b.client, method)(f"{URL}{a_agent.pk}/{path}", body, format="json")

    assert r.status_code == 404, r.content
    assert r.json()["error"]["code"] == "not_found"
    assert str(a_agent.pk) in r.json()["error"]["message"]
    assert "a-bot" not in r.content.decode() and "a-only" not in r.content.decode()
    assert table_snapshot("agents_agent", tenant_a.tenant.pk) == rows_before
    assert table_snapshot("tasks_task", tenant_a.tenant.pk) == tasks_before
    assert redis.get(_session_key(a_agent)) == session_before


@pytest.mark.parametrize(("method", "path", "body", "status"), [
    ("get", "", None, 200),
    ("patch", "", {"version": 1, "name": "renamed"}, 200),
    ("get", "stats/", None, 200),
    ("get", "session/", None, 200),
    ("put", "session/", {"data": {"step": 2}}, 200),
    ("patch", "session/", {"data": {"step": 3}}, 200),
    ("delete", "session/", None, 204),
    ("delete", "", None, 204),
])
def test_own_agent_works_for_each_route(tenant_a, tenant_b, a_agent, method, path, body, status):
    r = getattr(tenant_a.client, method)(f"{URL}{a_agent.pk}/{path}", body, format="json")
    assert r.status_code == status, r.content


def test_lists_and_creates_stay_in_the_callers_tenant(tenant_a, tenant_b, a_agent):
    b_agent = AgentFactory(tenant=tenant_b.tenant, name="a-bot")  # the same name is fine in another tenant
    assert [a["id"] for a in tenant_b.client.get(URL).json()["results"]] == [str(b_agent.pk)]
    assert [a["id"] for a in tenant_a.client.get(URL).json()["results"]] == [str(a_agent.pk)]
    # the deprecated namespace filter is the tenant's slug: it cannot reach across
    assert tenant_b.client.get(URL, {"namespace": "tenant-a"}).json()["results"] == []

    r = tenant_b.client.post(URL, {"name": "new", "type": "t"}, format="json")
    assert r.status_code == 201, r.content
    assert (r.json()["tenant"], r.json()["namespace"]) == ("tenant-b", "tenant-b")


def test_the_deprecated_namespace_may_only_repeat_the_tenant(tenant_b, a_agent):
    ok = tenant_b.client.post(URL, {"name": "n1", "type": "t", "namespace": "tenant-b"}, format="json")
    assert ok.status_code == 201, ok.content
    r = tenant_b.client.post(URL, {"name": "n2", "type": "t", "namespace": "tenant-a"}, format="json")
    assert r.status_code == 400 and r.json()["error"]["message"].startswith("namespace:")
    r = tenant_b.client.patch(f"{URL}{ok.json()['id']}/", {"version": 1, "namespace": "tenant-a"}, format="json")
    assert r.status_code == 400 and r.json()["error"]["message"].startswith("namespace:")
    # another tenant's agent is 404 before the namespace is even looked at
    r = tenant_b.client.patch(f"{URL}{a_agent.pk}/", {"version": 1, "namespace": "tenant-b"}, format="json")
    assert r.status_code == 404


@pytest.mark.parametrize(("method", "path", "body", "needed"), [
    ("get", "", None, "agents:read"),
    ("get", "{id}/", None, "agents:read"),
    ("get", "{id}/stats/", None, "agents:read"),
    ("get", "{id}/session/", None, "agents:read"),
    ("post", "", {"name": "x", "type": "t"}, "agents:write"),
    ("patch", "{id}/", {"version": 1, "name": "x"}, "agents:write"),
    ("delete", "{id}/", None, "agents:write"),
    ("put", "{id}/session/", {"data": {}}, "agents:write"),
    ("patch", "{id}/session/", {"data": {}}, "agents:write"),
    ("delete", "{id}/session/", None, "agents:write"),
])
def test_a_missing_scope_is_403_naming_it(make_tenant_caller, tenant_a, a_agent, table_snapshot, method, path, body,
                                          needed):
    held = {"agents:read": ["tasks:read", "agents:write"], "agents:write": ["agents:read", "tasks:write"]}[needed]
    caller = make_tenant_caller(tenant=tenant_a.tenant, scopes=held)
    before = table_snapshot("agents_agent", tenant_a.tenant.pk)
    r = getattr(caller.client, method)(URL + path.format(id=a_agent.pk), body, format="json")
    assert r.status_code == 403, r.content
    assert f"Missing scope {needed!r}" in r.json()["error"]["message"]
    assert table_snapshot("agents_agent", tenant_a.tenant.pk) == before


def test_agents_endpoints_are_throttled_per_tenant(make_tenant_caller):
    from apps.tenants.tests.factories import TenantFactory

    caller = make_tenant_caller(tenant=TenantFactory(request_rate="2/minute"))
    assert [caller.client.get(URL).status_code for _ in range(2)] == [200, 200]
    r = caller.client.get(URL)
    assert r.status_code == 429 and int(r["Retry-After"]) >= 1


def test_operators_see_every_tenant_or_the_one_they_name(operator_client, tenant_a, tenant_b, a_agent):
    b_agent = AgentFactory(tenant=tenant_b.tenant)
    ids = {a["id"] for a in operator_client.get(URL).json()["results"]}
    assert {str(a_agent.pk), str(b_agent.pk)} <= ids
    named = operator_client.get(URL, HTTP_X_AGENCY_TENANT="tenant-b").json()["results"]
    assert [a["id"] for a in named] == [str(b_agent.pk)]
    assert operator_client.get(f"{URL}{a_agent.pk}/", HTTP_X_AGENCY_TENANT="tenant-b").status_code == 404
    assert operator_client.get(f"{URL}{a_agent.pk}/").status_code == 200
    # a create must land in one tenant: an operator names it
    r = operator_client.post(URL, {"name": "op", "type": "t"}, format="json")
    assert r.status_code == 400 and r.json()["error"]["code"] == "tenant_required"
    r = operator_client.post(URL, {"name": "op", "type": "t"}, format="json", HTTP_X_AGENCY_TENANT="tenant-a")
    assert r.status_code == 201 and r.json()["tenant"] == "tenant-a"


def test_legacy_token_users_keep_the_default_tenant(api_client, tenant_a, a_agent):
    """The deprecated DRF-token path sees `default` (where every pre-tenant row went), nothing of tenant A."""
    mine = AgentFactory()  # default tenant
    assert [a["id"] for a in api_client.get(URL).json()["results"]] == [str(mine.pk)]
    assert api_client.get(f"{URL}{a_agent.pk}/").status_code == 404
    assert api_client.get(f"{URL}{mine.pk}/").json()["namespace"] == "default"
