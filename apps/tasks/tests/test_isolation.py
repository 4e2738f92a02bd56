"""Two tenants × every tasks endpoint: own tasks work, the other's are 404 and unchanged, scopes 403,
claims never cross tenants, and a lease is bound to the credential that claimed it.

Each tenant calls with its own API key (the `tenant_a` / `tenant_b` fixtures of the root conftest);
"unchanged" is the whole row as PostgreSQL prints it (`table_snapshot`).
"""

import pytest

from apps.agents.tests.factories import AgentFactory
from apps.tasks.models import Task
from apps.tasks.tests.factories import TaskFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/tasks/"


def _claim(caller, worker="w1", **body):
    r = caller.client.post(f"{URL}claim/", {"worker_id": worker, "limit": 100, **body}, format="json")
    assert r.status_code == 200, r.content
    return r.json()["tasks"]


@pytest.fixture
def a_tasks(tenant_a):
    """Tenant A's tasks: one pending, one running (claimed by A's key as worker w1), one completed, one failed."""
    agent = AgentFactory(tenant=tenant_a.tenant)
    running = TaskFactory(agent=agent, type="crawl", priority=9)
    [claimed] = _claim(tenant_a, types=["crawl"])
    assert claimed["id"] == str(running.pk)
    return {
        "agent": agent,
        "pending": TaskFactory(agent=agent, type="embed", data={"secret": "a-only"}),
        "running": running,
        "completed": TaskFactory(agent=agent, status="completed", result={"secret": "a-only"}),
        "failed": TaskFactory(agent=agent, status="failed"),
    }


# (method, path under the task, body, which of A's tasks): every route that names a task
TASK_ROUTES = [
    ("get", "", None, "completed"),
    ("get", "", None, "pending"),
    ("post", "cancel/", None, "pending"),
    ("post", "retry/", None, "failed"),
    ("post", "heartbeat/", {"worker_id": "w1"}, "running"),
    ("post", "complete/", {"worker_id": "w1", "result": {"forged": True}}, "running"),
    ("post", "fail/", {"worker_id": "w1", "error": "forged"}, "running"),
]


@pytest.mark.parametrize(("method", "path", "body", "which"), TASK_ROUTES,
                         ids=[f"{m} {p or '.'} {w}" for m, p, _, w in TASK_ROUTES])
def test_another_tenants_task_is_404_and_left_unchanged(tenant_a, tenant_b, a_tasks, table_snapshot, method, path,
                                                        body, which):
    """B gets 404 for each of A's tasks, even naming A's worker_id, and A's rows stay byte-for-byte the same."""
    task = a_tasks[which]
    tenant_a.client.get(f"{URL}{task.pk}/")  # a settled task is now in the row cache: B must not get it from there
    before = table_snapshot("tasks_task", tenant_a.tenant.pk)

    r = getattr(tenant_b.client, method)(f"{URL}{task.pk}/{path}", body, format="json")

    assert r.status_code == 404, r.content
    assert r.json()["error"] == {"code": "not_found", "message": f"task {task.pk} does not exist",
                                 "details": {"field": "id"}}
    assert table_snapshot("tasks_task", tenant_a.tenant.pk) == before


@pytest.mark.parametrize(("method", "path", "body", "which", "status"), [
    ("get", "", None, "completed", 200),
    ("post", "heartbeat/", {"worker_id": "w1"}, "running", 200),
    ("post", "complete/", {"worker_id": "w1", "result": {"ok": 1}}, "running", 200),
    ("post", "fail/", {"worker_id": "w1", "error": "boom"}, "running", 200),
    ("post", "cancel/", None, "pending", 200),
    ("post", "retry/", None, "failed", 200),
])
def test_own_task_works_for_each_route(tenant_a, a_tasks, method, path, body, which, status):
    r = getattr(tenant_a.client, method)(f"{URL}{a_tasks[which].pk}/{path}", body, format="json")
    assert r.status_code == status, r.content
    assert r.json()["tenant"] == "tenant-a"


def test_lists_show_only_the_callers_tasks(tenant_a, tenant_b, a_tasks):
    b_task = TaskFactory(agent=AgentFactory(tenant=tenant_b.tenant))
    assert [t["id"] for t in tenant_b.client.get(URL).json()["results"]] == [str(b_task.pk)]
    assert len(tenant_a.client.get(URL).json()["results"]) == 4
    # filtering by A's agent does not reach across either
    assert tenant_b.client.get(URL, {"agent": str(a_tasks["agent"].pk)}).json()["results"] == []


def test_a_claim_by_b_never_returns_as_tasks(tenant_a, tenant_b, a_tasks, table_snapshot):
    b_agent = AgentFactory(tenant=tenant_b.tenant)
    b_tasks = {str(TaskFactory(agent=b_agent, type="embed", priority=0).pk) for _ in range(3)}
    before = table_snapshot("tasks_task", tenant_a.tenant.pk)
    # A's pending task has the higher priority and is older: a claim across tenants would take it first
    claimed = _claim(tenant_b, types=["embed"])
    assert {t["id"] for t in claimed} == b_tasks
    assert _claim(tenant_b) == []  # nothing else of B's is due, and A's pending task is never offered
    assert _claim(tenant_b, agent_id=str(a_tasks["agent"].pk)) == []
    assert table_snapshot("tasks_task", tenant_a.tenant.pk) == before
    assert [t["id"] for t in _claim(tenant_a)] == [str(a_tasks["pending"].pk)]


def test_b_cannot_create_a_task_for_as_agent(tenant_a, tenant_b, a_tasks):
    r = tenant_b.client.post(URL, {"type": "t", "agent_id": str(a_tasks["agent"].pk)}, format="json")
    assert r.status_code == 404
    assert r.json()["error"]["message"] == f"agent_id: agent {a_tasks['agent'].pk} does not exist"
    assert not Task.objects.filter(tenant=tenant_b.tenant).exists()
    r = tenant_a.client.post(URL, {"type": "t", "agent_id": str(a_tasks["agent"].pk)}, format="json")
    assert r.status_code == 201 and r.json()["tenant"] == "tenant-a"
    r = tenant_b.client.post(URL, {"type": "t"}, format="json")
    assert r.status_code == 201 and r.json()["tenant"] == "tenant-b"


@pytest.mark.parametrize("action", ["heartbeat", "complete", "fail"])
def test_another_key_of_the_same_tenant_with_the_same_worker_id_is_refused(make_tenant_caller, tenant_a, a_tasks,
                                                                           table_snapshot, action):
    """The lease is bound to the credential that claimed it, not only to the worker_id string."""
    other_key = make_tenant_caller(tenant=tenant_a.tenant, scopes=["tasks:work"])
    running = a_tasks["running"]
    before = table_snapshot("tasks_task", tenant_a.tenant.pk)
    r = other_key.client.post(f"{URL}{running.pk}/{action}/", {"worker_id": "w1", "error": "x"}, format="json")
    assert r.status_code == 409, r.content
    assert r.json()["error"]["code"] == "lease_not_owned"
    assert "under another credential" in r.json()["error"]["message"]
    assert table_snapshot("tasks_task", tenant_a.tenant.pk) == before
    # the credential that claimed it still can
    r = tenant_a.client.post(f"{URL}{running.pk}/{action}/", {"worker_id": "w1", "error": "x"}, format="json")
    assert r.status_code == 200, r.content


@pytest.mark.parametrize(("method", "path", "body", "needed"), [
    ("get", "", None, "tasks:read"),
    ("get", "{id}/", None, "tasks:read"),
    ("post", "", {"type": "t"}, "tasks:write"),
    ("post", "{id}/cancel/", None, "tasks:write"),
    ("post", "{id}/retry/", None, "tasks:write"),
    ("post", "claim/", {"worker_id": "w9"}, "tasks:work"),
    ("post", "{id}/heartbeat/", {"worker_id": "w1"}, "tasks:work"),
    ("post", "{id}/complete/", {"worker_id": "w1"}, "tasks:work"),
    ("post", "{id}/fail/", {"worker_id": "w1", "error": "x"}, "tasks:work"),
])
def test_a_missing_scope_is_403_naming_it(make_tenant_caller, tenant_a, a_tasks, table_snapshot, method, path, body,
                                          needed):
    others = {"tasks:read", "tasks:write", "tasks:work", "agents:read", "agents:write"} - {needed}
    caller = make_tenant_caller(tenant=tenant_a.tenant, scopes=sorted(others))
    before = table_snapshot("tasks_task", tenant_a.tenant.pk)
    r = getattr(caller.client, method)(URL + path.format(id=a_tasks["running"].pk), body, format="json")
    assert r.status_code == 403, r.content
    assert f"Missing scope {needed!r}" in r.json()["error"]["message"]
    assert table_snapshot("tasks_task", tenant_a.tenant.pk) == before


def test_requeue_stays_operator_only(tenant_a, tenant_b, a_tasks, operator_client):
    assert tenant_a.client.post(f"{URL}{a_tasks['running'].pk}/requeue/").status_code == 403
    r = operator_client.post(f"{URL}{a_tasks['running'].pk}/requeue/", HTTP_X_AGENCY_TENANT="tenant-b")
    assert r.status_code == 404  # an operator who names a tenant is held to it
    assert operator_client.post(f"{URL}{a_tasks['running'].pk}/requeue/").status_code == 200


def test_legacy_token_users_keep_the_default_tenant(api_client, tenant_a, a_tasks):
    mine = TaskFactory()  # default tenant
    assert [t["id"] for t in api_client.get(URL).json()["results"]] == [str(mine.pk)]
    assert api_client.get(f"{URL}{a_tasks['completed'].pk}/").status_code == 404
    claimed = api_client.post(f"{URL}claim/", {"worker_id": "w1", "limit": 10}, format="json").json()["tasks"]
    assert [t["id"] for t in claimed] == [str(mine.pk)]
