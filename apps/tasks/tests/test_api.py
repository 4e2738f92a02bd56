from datetime import timedelta

import pytest
from django.utils import timezone

from apps.agents.tests.factories import AgentFactory
from apps.tasks.models import Task
from apps.tasks.tests.factories import TaskFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/tasks/"


def test_create_and_retrieve(api_client):
    agent = AgentFactory()
    r = api_client.post(URL, {"type": "summarize", "data": {"doc": 1}, "priority": 3, "agent_id": str(agent.pk)},
                        format="json")
    assert r.status_code == 201, r.content
    body = r.json()
    assert (body["status"], body["priority"], body["agent_id"]) == ("pending", 3, str(agent.pk))
    r = api_client.get(f"{URL}{body['id']}/")
    assert r.status_code == 200 and r.json()["data"] == {"doc": 1}


@pytest.mark.parametrize(
    "payload, status, field",
    [
        ({"type": "t", "priority": -1}, 400, "priority"),
        ({"type": "t", "data": [1, 2]}, 400, "data"),
        ({"type": "t", "data": "text"}, 400, "data"),
        ({"type": "t", "agent_id": "not-a-uuid"}, 400, "agent_id"),
        ({"type": "t", "agent_id": "00000000-0000-0000-0000-000000000000"}, 404, "agent_id"),  # as another tenant's
        ({"data": {}}, 400, "type"),
        ({"type": "t", "max_attempts": 0}, 400, "max_attempts"),
    ],
)
def test_create_bad_input_names_the_field_and_writes_nothing(api_client, payload, status, field):
    r = api_client.post(URL, payload, format="json")
    assert r.status_code == status, r.content
    assert r.json()["error"]["message"].startswith(field)
    assert Task.objects.count() == 0


def test_oversized_data_is_413(api_client, settings):
    settings.AGENCY_TASK_MAX_PAYLOAD_BYTES = 1024
    r = api_client.post(URL, {"type": "t", "data": {"blob": "x" * 5000}}, format="json")
    assert r.status_code == 413
    assert r.json()["error"]["message"].startswith("data")
    assert Task.objects.count() == 0


def test_history_filters(api_client):
    a1, a2 = AgentFactory(), AgentFactory()
    old = TaskFactory(agent=a1, type="embed", status="completed")
    Task.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=3))
    TaskFactory(agent=a1, type="embed", status="failed")
    TaskFactory(agent=a1, type="summarize")
    TaskFactory(agent=a2, type="embed")

    def count(query):
        r = api_client.get(URL + query)
        assert r.status_code == 200, r.content
        return r.json()["count"]

    assert count(f"?agent={a1.pk}") == 3
    assert count(f"?agent={a1.pk}&type=embed") == 2
    assert count("?type=embed&status=failed") == 1
    since = (timezone.now() - timedelta(days=1)).isoformat()
    assert count(f"?agent={a1.pk}&created_after={since.replace('+', '%2B')}") == 2
    assert count(f"?created_before={since.replace('+', '%2B')}") == 1
    r = api_client.get(URL + "?status=sleeping")
    assert r.status_code == 400 and r.json()["error"]["message"].startswith("status")
    r = api_client.get(URL + "?agent=nope")
    assert r.status_code == 400 and r.json()["error"]["message"].startswith("agent")


def test_worker_protocol_claim_heartbeat_complete(api_client):
    TaskFactory(priority=1, type="a")
    top = TaskFactory(priority=7, type="a")
    TaskFactory(priority=9, type="b")
    r = api_client.post(URL + "claim/", {"worker_id": "w1", "types": ["a"], "limit": 1}, format="json")
    assert r.status_code == 200, r.content
    tasks = r.json()["tasks"]
    assert [t["id"] for t in tasks] == [str(top.pk)]
    assert tasks[0]["status"] == "running" and tasks[0]["lease_owner"] == "w1"
    r = api_client.post(f"{URL}{top.pk}/heartbeat/", {"worker_id": "w1", "lease_seconds": 120}, format="json")
    assert r.status_code == 200
    r = api_client.post(f"{URL}{top.pk}/complete/", {"worker_id": "other", "result": {}}, format="json")
    assert r.status_code == 409 and r.json()["error"]["code"] == "lease_not_owned"
    r = api_client.post(f"{URL}{top.pk}/complete/", {"worker_id": "w1", "result": {"ok": True}}, format="json")
    assert r.status_code == 200 and r.json()["status"] == "completed"
    r = api_client.post(f"{URL}{top.pk}/cancel/")
    assert r.status_code == 409
    err = r.json()["error"]
    assert err["details"] == {"current": "completed", "requested": "cancelled"}
    assert "completed" in err["message"] and "cancelled" in err["message"]


def test_claim_bad_input(api_client):
    TaskFactory()
    for payload, field in [({"limit": 1}, "worker_id"), ({"worker_id": "w", "limit": 0}, "limit"),
                           ({"worker_id": "w", "limit": 10_000}, "limit"), ({"worker_id": "w", "types": "a"}, "types")]:
        r = api_client.post(URL + "claim/", payload, format="json")
        assert r.status_code == 400, payload
        assert r.json()["error"]["message"].startswith(field)
    assert Task.objects.get().status == "pending"


def test_fail_then_retry_and_requeue_is_operator_only(api_client, operator_client):
    TaskFactory(max_attempts=1)
    task_id = api_client.post(URL + "claim/", {"worker_id": "w1"}, format="json").json()["tasks"][0]["id"]
    r = api_client.post(f"{URL}{task_id}/fail/", {"worker_id": "w1", "error": "boom"}, format="json")
    assert r.status_code == 200 and r.json()["status"] == "failed" and r.json()["error"] == "boom"
    r = api_client.post(f"{URL}{task_id}/retry/")
    assert r.status_code == 200 and r.json()["status"] == "pending" and r.json()["attempts"] == 0
    api_client.post(URL + "claim/", {"worker_id": "w2"}, format="json")
    assert api_client.post(f"{URL}{task_id}/requeue/").status_code == 403
    r = operator_client.post(f"{URL}{task_id}/requeue/")
    assert r.status_code == 200 and r.json()["status"] == "pending"


def test_unknown_and_malformed_task_ids(api_client):
    assert api_client.get(f"{URL}xyz/").status_code == 404
    r = api_client.post(f"{URL}00000000-0000-0000-0000-000000000000/complete/", {"worker_id": "w"}, format="json")
    assert r.status_code == 404
    r = api_client.post(f"{URL}00000000-0000-0000-0000-000000000000/cancel/")
    assert r.status_code == 404


def test_schema_documents_the_claim_endpoint(api_client):
    r = api_client.get("/api/schema/?format=json")
    assert r.status_code == 200
    paths = r.json()["paths"]
    assert "/api/v1/tasks/claim/" in paths and "/api/v1/agents/{id}/stats/" in paths


def test_heartbeat_and_fail_by_another_worker_are_409_and_change_nothing(api_client):
    TaskFactory()
    task_id = api_client.post(URL + "claim/", {"worker_id": "owner"}, format="json").json()["tasks"][0]["id"]
    before = Task.objects.values().get(pk=task_id)
    r = api_client.post(f"{URL}{task_id}/heartbeat/", {"worker_id": "thief"}, format="json")
    assert r.status_code == 409 and r.json()["error"]["code"] == "lease_not_owned"
    r = api_client.post(f"{URL}{task_id}/fail/", {"worker_id": "thief", "error": "x"}, format="json")
    assert r.status_code == 409
    assert Task.objects.values().get(pk=task_id) == before
