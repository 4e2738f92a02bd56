import pytest
from auditlog.models import LogEntry
from django.urls import reverse

from apps.agents.models import Agent
from apps.agents.tests.factories import AgentFactory
from apps.tasks.tests.factories import TaskFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_(client, operator):
    client.force_login(operator)
    return client


def test_changelist_filters_and_search(admin_client_):
    AgentFactory(name="findme", status="maintenance")
    AgentFactory(name="other")
    url = reverse("admin:agents_agent_changelist")
    r = admin_client_.get(url, {"q": "findme"})
    assert r.status_code == 200 and b"findme" in r.content and b"other" not in r.content
    r = admin_client_.get(url, {"status__exact": "maintenance"})
    assert r.status_code == 200 and b"findme" in r.content


def test_change_page_shows_json_tasks_and_history(admin_client_):
    agent = AgentFactory(capabilities={"search": {"engines": ["web"]}})
    task = TaskFactory(agent=agent, type="crawl")
    r = admin_client_.get(reverse("admin:agents_agent_change", args=[agent.pk]))
    assert r.status_code == 200
    body = r.content.decode()
    assert "&quot;engines&quot;" in body  # pretty JSON
    assert str(task.pk) in body  # inline task
    assert "change history" in body.lower() and "Create" in body


def test_admin_edit_goes_through_the_versioned_service_and_refuses_stale_form(admin_client_):
    agent = AgentFactory(name="before")
    url = reverse("admin:agents_agent_change", args=[agent.pk])
    form = {"name": "after", "type": agent.type, "status": "active",
            "capabilities": "{}", "expected_version": 1,
            "tasks-TOTAL_FORMS": 0, "tasks-INITIAL_FORMS": 0, "tasks-MIN_NUM_FORMS": 0, "tasks-MAX_NUM_FORMS": 0}
    r = admin_client_.post(url, form)
    assert r.status_code == 302, r.content.decode()[:3000]
    agent.refresh_from_db()
    assert (agent.name, agent.version) == ("after", 2)
    assert LogEntry.objects.get_for_object(agent).filter(action=LogEntry.Action.UPDATE).exists()
    r = admin_client_.post(url, {**form, "name": "stale"})  # still says version 1
    assert r.status_code == 200 and b"changed by someone else" in r.content
    agent.refresh_from_db()
    assert agent.name == "after"
    r = admin_client_.post(url, {**form, "capabilities": "[1]", "expected_version": 2})
    assert r.status_code == 200 and b"JSON object" in r.content
    assert Agent.objects.get(pk=agent.pk).capabilities == {}


def test_status_actions_call_the_service(admin_client_):
    a = AgentFactory()
    r = admin_client_.post(reverse("admin:agents_agent_changelist"),
                           {"action": "mark_maintenance", "_selected_action": [str(a.pk)]})
    assert r.status_code == 302
    a.refresh_from_db()
    assert (a.status, a.version) == ("maintenance", 2)
