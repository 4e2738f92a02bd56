"""Warming and stats snapshots through the real Celery worker (committed data, real broker)."""

import pytest
from django_redis import get_redis_connection

from apps.agents.models import Agent
from apps.agents.tests.factories import AgentFactory
from apps.cache import services
from apps.cache.models import CacheStatsSnapshot
from apps.cache.tasks import cache_warm_task, stats_snapshot_task
from apps.cache.tests.conftest import subscribed, wait_until
from apps.cache.tests.factories import WarmingRuleFactory
from apps.platform import cache

pytestmark = pytest.mark.django_db(transaction=True)


def _l2_has(model, pk) -> bool:
    c = cache.get_cache()
    return bool(get_redis_connection("default").exists(c.make_key(cache.instance_key(model, pk))))


def _read(agents_with_counts) -> None:
    for agent, n in agents_with_counts:
        for _ in range(n):
            cache.instance_get(Agent, agent.pk)
    cache.get_cache().flush_counters()
    cache.cache_delete_many([cache.instance_key(Agent, a.pk) for a, _ in agents_with_counts], on_commit=False)


def test_warm_task_loads_the_most_read_rows_through_the_worker(celery_worker):
    cold, warm, hot = AgentFactory.create_batch(3)
    _read([(cold, 1), (warm, 3), (hot, 5)])
    assert not _l2_has(Agent, hot.pk)
    result = cache_warm_task.delay(limit=2).get(timeout=60)
    assert result["loaded"] == 2
    assert _l2_has(Agent, hot.pk) and _l2_has(Agent, warm.pk) and not _l2_has(Agent, cold.pk)
    # Idempotent: a second run finds them present and loads nothing.
    assert cache_warm_task.delay(limit=2).get(timeout=60)["loaded"] == 0


def test_warming_rules_choose_keys_and_ttl():
    agents = AgentFactory.create_batch(2)
    _read([(agents[0], 2), (agents[1], 1)])
    WarmingRuleFactory(name="none", model_label="tasks.Task")
    assert services.cache_warm(limit=10)["loaded"] == 0  # no rule matches agent rows
    WarmingRuleFactory(name="agents", model_label="agents.Agent", ttl=1234, priority=1)
    assert services.cache_warm(limit=10)["loaded"] == 2
    c = cache.get_cache()
    ttl = get_redis_connection("default").ttl(c.make_key(cache.instance_key(Agent, agents[0].pk)))
    assert 1200 < ttl <= 1234


def test_snapshot_task_persists_cluster_counters(celery_worker):
    subscribed()
    cache.cache_set("x", 1)
    cache.cache_get("x")
    cache.cache_get("absent")
    # The subscriber thread flushes this process's counters to Redis about once a second.
    stats_key = cache.get_cache().make_key(cache.STATS_KEY)
    assert wait_until(lambda: int(get_redis_connection("default").hget(stats_key, "l2_misses") or 0) >= 1, 5)
    snapshot_id = stats_snapshot_task.delay().get(timeout=60)
    snap = CacheStatsSnapshot.objects.get(pk=snapshot_id)
    assert snap.redis_up and snap.l2_misses >= 1 and snap.key_count >= 1


def test_warm_rejects_bad_limit():
    from apps.common.errors import ValidationFailed

    with pytest.raises(ValidationFailed, match="limit"):
        services.cache_warm(limit=0)


@pytest.mark.django_db
def test_stats_snapshot_schedule_is_installed():
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(name="cache: stats snapshot")
    assert task.task == "agency.cache.snapshot_stats" and task.interval.every == 300
