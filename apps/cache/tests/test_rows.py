"""The row cache (`instance_get`) for agents and the cache app's own rules."""

import uuid

import pytest
from django.db import transaction
from django_redis import get_redis_connection

from apps.agents.models import Agent
from apps.agents.tests.factories import AgentFactory
from apps.cache.tests.conftest import cache_options, subscribed
from apps.platform import cache

# Committed rows: inside the test's own (never committed) transaction a freshly written row is
# "dirty" and read from the database, which is exactly the read-your-writes rule under test below.
pytestmark = pytest.mark.django_db(transaction=True)


def test_instance_get_hits_the_database_once(django_assert_num_queries):
    agent = AgentFactory()
    with django_assert_num_queries(1):
        first = cache.instance_get(Agent, agent.pk)
        second = cache.instance_get(Agent, str(agent.pk).upper())  # same row, canonical key
    assert first == second == agent
    assert cache.instance_key(Agent, str(agent.pk).upper()) == cache.instance_key(Agent, agent.pk)


def test_unknown_row_raises_does_not_exist_and_is_not_cached():
    with pytest.raises(Agent.DoesNotExist):
        cache.instance_get(Agent, uuid.uuid4())
    assert get_redis_connection("default").dbsize() == 0


def test_save_invalidates_on_commit_and_a_transaction_sees_its_own_write():
    subscribed()
    agent = AgentFactory(name="before")
    cache.instance_get(Agent, agent.pk)
    with transaction.atomic():
        agent.name = "after"
        agent.save(update_fields=["name"])
        # Inside the transaction the cache still holds "before" in L2, but this transaction reads its write.
        assert cache.instance_get(Agent, agent.pk).name == "after"
        key = cache.get_cache().make_key(cache.instance_key(Agent, agent.pk))
        assert get_redis_connection("default").exists(key)  # L2 untouched before commit
    assert not get_redis_connection("default").exists(key)
    assert cache.instance_get(Agent, agent.pk).name == "after"


def test_update_via_queryset_needs_instances_invalidate():
    agent = AgentFactory(name="a")
    cache.instance_get(Agent, agent.pk)
    with transaction.atomic():
        Agent.objects.filter(pk=agent.pk).update(name="b")
        cache.instances_invalidate(Agent, [agent.pk])
        assert cache.instance_get(Agent, agent.pk).name == "b"  # dirty in this transaction: from the DB
    assert cache.instance_get(Agent, agent.pk).name == "b"


def test_delete_invalidates():
    agent = AgentFactory()
    cache.instance_get(Agent, agent.pk)
    pk = agent.pk
    agent.delete()
    with pytest.raises(Agent.DoesNotExist):
        cache.instance_get(Agent, pk)


def test_reads_are_counted_for_warming():
    r = get_redis_connection("default")
    cache.get_cache().flush_counters()  # reads of earlier tests, still buffered in this process
    r.delete(cache.get_cache().make_key(cache.ACCESS_KEY))
    agents = AgentFactory.create_batch(3)
    for n, agent in enumerate(agents):
        for _ in range(n + 1):
            cache.instance_get(Agent, agent.pk)
    cache.get_cache().flush_counters()
    ranked = r.zrevrange(cache.get_cache().make_key(cache.ACCESS_KEY), 0, -1, withscores=True)
    assert [(m.decode(), s) for m, s in ranked] == [
        (cache.instance_key(Agent, a.pk), float(n + 1)) for n, a in reversed(list(enumerate(agents)))
    ]


def test_model_tag_drops_every_row_of_a_model():
    agents = AgentFactory.create_batch(2)
    for a in agents:
        cache.instance_get(Agent, a.pk)
    assert cache.cache_invalidate_tags([cache.model_tag(Agent)]) >= 2
    assert get_redis_connection("default").keys("*model:agents.agent:*") == []


@pytest.mark.django_db
def test_a_row_written_in_an_uncommitted_transaction_is_not_cached(django_capture_on_commit_callbacks):
    agent = AgentFactory()  # written in the test's open transaction
    assert cache.instance_get(Agent, agent.pk) == agent
    assert get_redis_connection("default").keys("*model:agents.agent:*") == []


def test_access_counts_keep_only_the_most_read_keys(settings):
    cache_options(settings, ACCESS_MAX_KEYS=2)
    c = cache.get_cache()
    for key, n in (("model:a:1", 5), ("model:a:2", 1), ("model:a:3", 3)):
        for _ in range(n):
            c.record_access(key)
    c.flush_counters()
    ranked = get_redis_connection("default").zrevrange(c.make_key(cache.ACCESS_KEY), 0, -1)
    assert [m.decode() for m in ranked] == ["model:a:1", "model:a:3"]


def test_tasks_in_flight_are_read_through_and_settled_ones_cached(django_assert_num_queries):
    """Task.cacheable: the queue's statements never invalidate, because no cache holds a pending or running task."""
    from apps.tasks import services as tasks
    from apps.tasks.models import Task
    from apps.tasks.tests.factories import TaskFactory

    task = TaskFactory()
    r = get_redis_connection("default")
    key = cache.get_cache().make_key(cache.instance_key(Task, task.pk))
    with django_assert_num_queries(2):  # pending: from the database on every read, never stored
        assert cache.instance_get(Task, task.pk).status == "pending"
        assert cache.instance_get(Task, task.pk).status == "pending"
    assert not r.exists(key)
    [claimed] = tasks.task_claim(tenant_id=None, credential="user:test", worker_id="w1", limit=1)
    assert claimed.pk == task.pk
    assert cache.instance_get(Task, task.pk).status == "running" and not r.exists(key)
    tasks.task_complete(tenant_id=None, credential="user:test", task_id=task.pk, worker_id="w1",
                        result={"ok": 1})
    with django_assert_num_queries(1):  # settled: loaded once, then served from the cache
        first = cache.instance_get(Task, task.pk)
        again = cache.instance_get(Task, task.pk)
    assert (first.status, again.result) == ("completed", {"ok": 1}) and r.exists(key)


def test_a_settled_task_leaves_the_cache_when_an_operator_changes_it():
    from apps.agents import services as agents
    from apps.tasks import services as tasks
    from apps.tasks.models import Task
    from apps.tasks.tests.factories import TaskFactory

    agent = AgentFactory()
    task = TaskFactory(agent=agent)
    tasks.task_cancel(tenant_id=None, task_id=task.pk)
    assert cache.instance_get(Task, task.pk).status == "cancelled"
    tasks.task_retry(tenant_id=None, task_id=task.pk)  # save() → invalidated on commit
    assert cache.instance_get(Task, task.pk).status == "pending"

    tasks.task_cancel(tenant_id=None, task_id=task.pk)
    assert cache.instance_get(Task, task.pk).agent_id == agent.pk
    agents.agent_delete(tenant_id=None, agent_id=agent.pk)  # SET NULL sends no signal; the service drops them
    assert cache.instance_get(Task, task.pk).agent_id is None


def test_warming_skips_tasks_in_flight():
    from apps.cache.services import cache_warm
    from apps.tasks.models import Task
    from apps.tasks.tests.factories import TaskFactory

    running, done = TaskFactory(status="running"), TaskFactory(status="completed")
    c = cache.get_cache()
    for task in (running, done):
        c.record_access(cache.instance_key(Task, task.pk))
    result = cache_warm()  # flushes the access counts first
    r = get_redis_connection("default")
    assert r.exists(c.make_key(cache.instance_key(Task, done.pk)))
    assert not r.exists(c.make_key(cache.instance_key(Task, running.pk)))
    assert result["loaded"] >= 1 and result["skipped"] >= 1
