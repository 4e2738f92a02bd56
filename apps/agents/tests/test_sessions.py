"""Agent sessions through the API: create, read, merge (extends TTL), end; 404s; bad input."""

import time
import uuid

import pytest
from django_redis import get_redis_connection

from apps.agents.tests.factories import AgentFactory

pytestmark = pytest.mark.django_db


def url(agent_id) -> str:
    return f"/api/v1/agents/{agent_id}/session/"


def test_session_lifecycle(api_client):
    agent = AgentFactory()
    assert api_client.get(url(agent.pk)).status_code == 404
    r = api_client.put(url(agent.pk), {"data": {"step": 1, "cursor": "a"}, "ttl": 60}, format="json")
    assert r.status_code == 200, r.content
    assert r.json()["data"] == {"step": 1, "cursor": "a"} and r.json()["ttl"] == 60
    redis = get_redis_connection("default")
    assert 55 <= redis.ttl(f"session:{agent.pk}") <= 60

    redis.expire(f"session:{agent.pk}", 5)  # time passes…
    r = api_client.patch(url(agent.pk), {"data": {"step": 2, "cursor": None}, "ttl": 120}, format="json")
    assert r.status_code == 200
    assert r.json()["data"] == {"step": 2}
    assert redis.ttl(f"session:{agent.pk}") > 100  # the update extended the TTL

    body = api_client.get(url(agent.pk)).json()
    assert body["data"] == {"step": 2} and body["agent_id"] == str(agent.pk) and body["ttl"] > 100
    assert body["created_at"] <= body["updated_at"]

    assert api_client.delete(url(agent.pk)).status_code == 204
    assert api_client.get(url(agent.pk)).status_code == 404
    assert api_client.delete(url(agent.pk)).status_code == 404
    assert api_client.patch(url(agent.pk), {"data": {"x": 1}}, format="json").status_code == 404


def test_session_expires_with_its_ttl(api_client):
    agent = AgentFactory()
    api_client.put(url(agent.pk), {"data": {"a": 1}, "ttl": 1}, format="json")
    time.sleep(1.2)
    assert api_client.get(url(agent.pk)).status_code == 404


def test_unknown_agent_is_404(api_client):
    r = api_client.put(url(uuid.uuid4()), {"data": {}}, format="json")
    assert r.status_code == 404
    assert "does not exist" in r.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [({"data": [1, 2]}, "data"), ({}, "data"), ({"data": {}, "ttl": 0}, "ttl"), ({"data": {}, "ttl": 10**9}, "ttl")],
)
def test_bad_session_input_is_400_and_nothing_is_stored(api_client, body, field):
    agent = AgentFactory()
    r = api_client.put(url(agent.pk), body, format="json")
    assert r.status_code == 400
    assert field in r.json()["error"]["message"]
    assert not get_redis_connection("default").exists(f"session:{agent.pk}")


def test_oversized_session_is_413(api_client, settings):
    settings.AGENCY_AGENT_SESSION_MAX_BYTES = 100
    agent = AgentFactory()
    r = api_client.put(url(agent.pk), {"data": {"blob": "x" * 500}}, format="json")
    assert r.status_code == 413
    assert not get_redis_connection("default").exists(f"session:{agent.pk}")


def test_sessions_require_authentication(client):
    agent = AgentFactory()
    assert client.get(url(agent.pk)).status_code in (401, 403)
