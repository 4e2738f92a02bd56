import pytest
from django.utils import timezone

from apps.agents.models import Agent
from apps.agents.tests.factories import AgentFactory
from apps.tasks.tests.factories import TaskFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/agents/"


def test_requires_authentication(client):
    assert client.get(URL).status_code in (401, 403)


def test_create_and_retrieve_with_etag(api_client):
    r = api_client.post(URL, {"name": "bot", "type": "search", "capabilities": {"search": {}}}, format="json")
    assert r.status_code == 201, r.content
    assert r["ETag"] == 'W/"1"'
    body = r.json()
    assert body["namespace"] == "default" and body["version"] == 1
    r = api_client.get(f"{URL}{body['id']}/")
    assert r.status_code == 200 and r["ETag"] == 'W/"1"'
    assert r.json()["capabilities"] == {"search": {}}


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"name": "x", "type": "t", "status": "sleeping"}, "status"),
        ({"name": "x", "type": "t", "capabilities": [1, 2]}, "capabilities"),
        ({"name": "x", "type": "t", "capabilities": "str"}, "capabilities"),
        ({"type": "t"}, "name"),
    ],
)
def test_create_bad_input_is_400_naming_the_field_and_writes_nothing(api_client, payload, field):
    r = api_client.post(URL, payload, format="json")
    assert r.status_code == 400
    assert r.json()["error"]["message"].startswith(field)
    assert Agent.objects.count() == 0


def test_oversized_capabilities_is_413_naming_the_field(api_client, settings):
    settings.AGENCY_AGENT_MAX_CAPABILITIES_BYTES = 1024
    r = api_client.post(URL, {"name": "x", "type": "t", "capabilities": {"blob": "x" * 2000}}, format="json")
    assert r.status_code == 413
    assert "capabilities" in r.json()["error"]["message"]
    assert Agent.objects.count() == 0


def test_list_filters_search_and_ordering(api_client):
    AgentFactory(name="alpha", type="search", capabilities={"search": 1}, status="active")
    AgentFactory(name="beta", type="code", capabilities={"code": 1}, status="maintenance")
    AgentFactory(name="gamma", type="search", capabilities={"search": 1, "code": 1}, status="inactive")

    def names(query):
        r = api_client.get(URL + query)
        assert r.status_code == 200, r.content
        return [a["name"] for a in r.json()["results"]]

    assert names("?type=search&ordering=name") == ["alpha", "gamma"]
    assert names("?status=maintenance") == ["beta"]
    assert names("?capability=code&ordering=-name") == ["gamma", "beta"]
    assert names("?search=alp") == ["alpha"]
    r = api_client.get(URL + "?status=sleeping")
    assert r.status_code == 400 and "status" in r.json()["error"]["message"]


def test_patch_with_version_field_then_stale_version_is_409(api_client, django_capture_on_commit_callbacks):
    agent = AgentFactory()
    with django_capture_on_commit_callbacks(execute=True):
        r = api_client.patch(f"{URL}{agent.pk}/", {"version": 1, "status": "maintenance"}, format="json")
    assert r.status_code == 200, r.content
    assert r.json()["version"] == 2 and r["ETag"] == 'W/"2"'
    r = api_client.patch(f"{URL}{agent.pk}/", {"version": 1, "name": "late"}, format="json")
    assert r.status_code == 409
    assert r.json()["error"]["details"] == {"current_version": 2}
    agent.refresh_from_db()
    assert (agent.name, agent.status, agent.version) != ("late", "maintenance", 2)
    assert agent.version == 2 and agent.name != "late"


def test_patch_with_if_match_header(api_client, django_capture_on_commit_callbacks):
    agent = AgentFactory()
    etag = api_client.get(f"{URL}{agent.pk}/")["ETag"]
    with django_capture_on_commit_callbacks(execute=True):
        r = api_client.patch(f"{URL}{agent.pk}/", {"name": "renamed"}, format="json", HTTP_IF_MATCH=etag)
    assert r.status_code == 200
    r = api_client.patch(f"{URL}{agent.pk}/", {"name": "again"}, format="json", HTTP_IF_MATCH=etag)
    assert r.status_code == 409
    # the retrieve after a committed write shows the new version (cache invalidated on commit)
    assert api_client.get(f"{URL}{agent.pk}/")["ETag"] == 'W/"2"'
    agent.refresh_from_db()
    assert agent.name == "renamed"


def test_patch_without_version_or_with_bad_input_is_400_and_unchanged(api_client):
    agent = AgentFactory(name="orig")
    r = api_client.patch(f"{URL}{agent.pk}/", {"name": "x"}, format="json")
    assert r.status_code == 400 and r.json()["error"]["message"].startswith("version")
    r = api_client.patch(f"{URL}{agent.pk}/", {"version": 1, "capabilities": [1]}, format="json")
    assert r.status_code == 400 and r.json()["error"]["message"].startswith("capabilities")
    r = api_client.patch(f"{URL}{agent.pk}/", {"name": "x"}, format="json", HTTP_IF_MATCH="nonsense")
    assert r.status_code == 400 and "If-Match" in r.json()["error"]["message"]
    agent.refresh_from_db()
    assert (agent.name, agent.version) == ("orig", 1)


def test_malformed_and_unknown_ids(api_client):
    r = api_client.get(f"{URL}not-a-uuid/")
    assert r.status_code == 404 and r.json()["error"]["message"].startswith("id")
    r = api_client.get(f"{URL}00000000-0000-0000-0000-000000000000/")
    assert r.status_code == 404
    r = api_client.patch(f"{URL}00000000-0000-0000-0000-000000000000/", {"version": 1}, format="json")
    assert r.status_code == 404


def test_delete_hard_and_409_with_active_tasks(api_client):
    busy = AgentFactory()
    TaskFactory(agent=busy, status="running")
    r = api_client.delete(f"{URL}{busy.pk}/")
    assert r.status_code == 409
    assert Agent.objects.filter(pk=busy.pk).exists()
    idle = AgentFactory()
    assert api_client.delete(f"{URL}{idle.pk}/").status_code == 204
    assert not Agent.objects.filter(pk=idle.pk).exists()


def test_stats_counts_rates_and_durations_in_sql(api_client, django_assert_max_num_queries):
    agent = AgentFactory()
    start = timezone.now() - timezone.timedelta(minutes=10)
    for seconds in (1, 2, 3, 4, 10):
        TaskFactory(agent=agent, status="completed", started_at=start,
                    finished_at=start + timezone.timedelta(seconds=seconds))
    TaskFactory(agent=agent, status="failed")
    TaskFactory(agent=agent, status="pending")
    TaskFactory(status="completed")  # another agent's: not counted
    with django_assert_max_num_queries(4):  # auth token + agent + the aggregate
        r = api_client.get(f"{URL}{agent.pk}/stats/")
    assert r.status_code == 200
    body = r.json()
    assert body["tasks_by_status"] == {"pending": 1, "running": 0, "completed": 5, "failed": 1, "cancelled": 0}
    assert body["total"] == 7
    assert body["success_rate"] == pytest.approx(5 / 6)
    assert body["mean_duration_seconds"] == pytest.approx(4.0)
    assert body["p95_duration_seconds"] == pytest.approx(8.8)  # linear interpolation between 4 and 10
    assert body["last_activity"] is not None


def test_stats_of_agent_without_tasks(api_client):
    agent = AgentFactory()
    body = api_client.get(f"{URL}{agent.pk}/stats/").json()
    assert body["total"] == 0 and body["success_rate"] is None and body["p95_duration_seconds"] is None


def test_patch_body_version_and_if_match_must_agree(api_client):
    agent = AgentFactory()
    r = api_client.patch(f"{URL}{agent.pk}/", {"version": 1, "name": "x"}, format="json", HTTP_IF_MATCH='W/"7"')
    assert r.status_code == 400 and r.json()["error"]["message"].startswith("version")
    agent.refresh_from_db()
    assert agent.version == 1
