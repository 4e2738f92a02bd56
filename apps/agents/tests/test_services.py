import threading

import pytest
from auditlog.models import LogEntry
from django.db import connection, connections

from apps.agents import services
from apps.agents.models import Agent
from apps.agents.tests.factories import AgentFactory
from apps.common.errors import Conflict, NotFound, PayloadTooLarge, ValidationFailed
from apps.tasks.tests.factories import TaskFactory
from apps.tenants.selectors import default_tenant_id
from apps.tenants.tests.factories import TenantFactory

pytestmark = pytest.mark.django_db


def test_create_puts_the_agent_in_its_tenant_at_version_1_and_logs_history():
    agent = services.agent_create(tenant_id=default_tenant_id(), name="a1", type="planner", capabilities={"plan": 1})
    assert agent.tenant.slug == "default"
    assert agent.version == 1
    assert LogEntry.objects.get_for_object(agent).filter(action=LogEntry.Action.CREATE).count() == 1


@pytest.mark.parametrize("caps", [[1, 2], "x", 3])
def test_create_rejects_non_object_capabilities(caps):
    with pytest.raises(ValidationFailed, match="capabilities"):
        services.agent_create(tenant_id=default_tenant_id(), name="a", type="t", capabilities=caps)
    assert Agent.objects.count() == 0


def test_create_rejects_unknown_status_and_oversized_capabilities(settings):
    with pytest.raises(ValidationFailed, match="status"):
        services.agent_create(tenant_id=default_tenant_id(), name="a", type="t", status="sleeping")
    settings.AGENCY_AGENT_MAX_CAPABILITIES_BYTES = 100
    with pytest.raises(PayloadTooLarge, match="capabilities"):
        services.agent_create(tenant_id=default_tenant_id(), name="a", type="t", capabilities={"k": "x" * 200})
    assert Agent.objects.count() == 0


def test_duplicate_name_in_tenant_is_rejected_but_another_tenant_is_fine():
    services.agent_create(tenant_id=default_tenant_id(), name="same", type="t")
    with pytest.raises(ValidationFailed, match="already exists"):
        services.agent_create(tenant_id=default_tenant_id(), name="same", type="t")
    services.agent_create(tenant_id=TenantFactory(slug="tenant-b").pk, name="same", type="t")
    assert Agent.objects.filter(name="same").count() == 2


def test_update_with_current_version_bumps_it_and_logs_the_diff():
    agent = AgentFactory()
    updated = services.agent_update(tenant_id=None, agent_id=agent.pk, expected_version=1, status="maintenance")
    assert updated.version == 2
    agent.refresh_from_db()
    assert (agent.status, agent.version) == ("maintenance", 2)
    entry = LogEntry.objects.get_for_object(agent).filter(action=LogEntry.Action.UPDATE).get()
    assert "status" in entry.changes_dict


def test_stale_version_is_409_with_current_version_and_writes_nothing():
    agent = AgentFactory()
    services.agent_update(tenant_id=None, agent_id=agent.pk, expected_version=1, name="first")
    with pytest.raises(Conflict) as exc:
        services.agent_update(tenant_id=None, agent_id=agent.pk, expected_version=1, name="second")
    assert exc.value.details == {"current_version": 2}
    agent.refresh_from_db()
    assert (agent.name, agent.version) == ("first", 2)


def test_update_validates_fields_and_unknown_agent():
    agent = AgentFactory()
    with pytest.raises(ValidationFailed, match="capabilities"):
        services.agent_update(tenant_id=None, agent_id=agent.pk, expected_version=1, capabilities=["x"])
    with pytest.raises(ValidationFailed, match="status"):
        services.agent_update(tenant_id=None, agent_id=agent.pk, expected_version=1, status="bogus")
    with pytest.raises(ValidationFailed, match="version"):
        services.agent_update(tenant_id=None, agent_id=agent.pk, expected_version=1, version=9)
    with pytest.raises(NotFound):
        services.agent_update(tenant_id=None,
                              agent_id="00000000-0000-0000-0000-000000000000", expected_version=1, name="x")
    agent.refresh_from_db()
    assert agent.version == 1


def test_delete_is_hard_refused_with_active_tasks_and_keeps_finished_history():
    agent = AgentFactory()
    task = TaskFactory(agent=agent)
    with pytest.raises(Conflict, match="pending or running"):
        services.agent_delete(tenant_id=None, agent_id=agent.pk)
    task.status = "completed"
    task.save()
    services.agent_delete(tenant_id=None, agent_id=agent.pk)
    assert not Agent.objects.filter(pk=agent.pk).exists()
    task.refresh_from_db()
    assert task.agent_id is None
    assert LogEntry.objects.filter(object_pk=str(agent.pk), action=LogEntry.Action.DELETE).exists()


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_writers_exactly_one_wins():
    """Both read version 1 and write at the same moment: one commits, the other gets 409."""
    agent = AgentFactory()
    barrier = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def writer(name: str) -> None:
        try:
            barrier.wait()
            services.agent_update(tenant_id=None, agent_id=agent.pk, expected_version=1, name=name)
            outcomes[name] = "ok"
        except Conflict as exc:
            outcomes[name] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(n,)) for n in ("writer-a", "writer-b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [n for n, o in outcomes.items() if o == "ok"]
    losers = [o for o in outcomes.values() if isinstance(o, Conflict)]
    assert len(winners) == 1 and len(losers) == 1
    assert losers[0].details == {"current_version": 2}
    agent.refresh_from_db()
    assert (agent.name, agent.version) == (winners[0], 2)
    assert connection.vendor == "postgresql"


def test_status_change_is_published_on_agent_status_after_commit(django_capture_on_commit_callbacks):
    import json

    from django_redis import get_redis_connection

    agent = AgentFactory(status="active")
    pubsub = get_redis_connection("default").pubsub()
    pubsub.subscribe("agent:status")
    assert pubsub.get_message(timeout=2)["type"] == "subscribe"
    with django_capture_on_commit_callbacks(execute=True):
        services.agent_update(tenant_id=None, agent_id=agent.id, expected_version=agent.version, name="renamed")
    assert pubsub.get_message(timeout=0.5) is None  # no status change, no message
    with django_capture_on_commit_callbacks(execute=True):
        services.agent_update(tenant_id=None,
                              agent_id=agent.id, expected_version=agent.version + 1, status="maintenance")
    message = pubsub.get_message(timeout=2)
    pubsub.close()
    body = json.loads(message["data"])
    assert (body["type"], body["agent_id"], body["old"], body["new"]) == (
        "agent.status", str(agent.id), "active", "maintenance")
