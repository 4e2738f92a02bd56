"""Redis stopped and restarted under requests (our own redis-server, never the shared one).

Reads fall through to the database, writes still commit, the API keeps answering 200, errors are
logged once per interval, invalidations missed while Redis was down are replayed when it returns
(its AOF brings the old value back), and the cache resumes by itself.
"""

import logging

import pytest
from django.conf import settings as django_settings
from django_redis import get_redis_connection

from apps.agents.models import Agent
from apps.agents.tests.factories import AgentFactory
from apps.cache.tests.conftest import subscribed, wait_until
from apps.platform import cache

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def cache_on_private_redis(settings, private_redis):
    caches = {**django_settings.CACHES}
    caches["default"] = {**caches["default"], "LOCATION": private_redis.url,
                         "OPTIONS": {**caches["default"]["OPTIONS"], "RETRY_INTERVAL": 0.2, "ERROR_LOG_INTERVAL": 60}}
    settings.CACHES = caches  # resets Django's cache handlers and ours (setting_changed)
    assert get_redis_connection("default").connection_pool.connection_kwargs["port"] == private_redis.port
    return private_redis


def _row_cached(agent) -> bool:
    c = cache.get_cache()
    return bool(get_redis_connection("default").exists(c.make_key(cache.instance_key(Agent, agent.pk))))


def test_redis_stopped_and_restarted_during_requests(cache_on_private_redis, api_client, caplog):
    redis_server = cache_on_private_redis
    agent = AgentFactory(name="v1")
    subscribed()
    assert api_client.get(f"/api/v1/agents/{agent.pk}/").json()["name"] == "v1"
    assert _row_cached(agent)
    cache.cache_set("plain", "before")

    caplog.clear()
    with caplog.at_level(logging.WARNING):
        redis_server.stop()
        for _ in range(30):
            r = api_client.get(f"/api/v1/agents/{agent.pk}/")
            assert r.status_code == 200 and r.json()["name"] == "v1"
        agent.name = "v2"
        agent.save(update_fields=["name"])  # commits; the invalidation cannot reach Redis
        assert Agent.objects.get(pk=agent.pk).name == "v2"
        for _ in range(30):
            assert api_client.get(f"/api/v1/agents/{agent.pk}/").json()["name"] == "v2"
        assert cache.cache_get("plain", "fallback") == "fallback"
        assert cache.cache_set("plain", "during") is False
        assert cache.cache_get_or_set("computed", lambda: 42) == 42
        r = api_client.get(f"/api/v1/agents/{agent.pk}/session/")  # sessions live only in Redis: 503
        assert r.status_code == 503 and r.json()["error"]["code"] == "unavailable"
        assert api_client.get("/api/v1/cache/stats/").json()["redis"]["up"] is False
    cache_warnings = [r for r in caplog.records if r.name in ("apps.platform.cache", "django_redis.cache")]
    assert 1 <= len(cache_warnings) <= 2, [r.getMessage() for r in cache_warnings]  # not one per request

    c = cache.get_cache()
    assert c._pending  # the row invalidation that Redis missed is remembered
    redis_server.start()  # with its AOF: the stale "v1" row is back in Redis
    assert wait_until(lambda: c.subscribed, timeout=15), "the subscriber did not reconnect"
    assert wait_until(lambda: not _row_cached(agent), timeout=5)  # the missed invalidation was replayed
    assert c.replayed >= 1 and not c._pending
    assert api_client.get(f"/api/v1/agents/{agent.pk}/").json()["name"] == "v2"
    assert wait_until(lambda: _row_cached(agent))  # and the cache fills again
    assert cache.cache_set("plain", "after") is True
    assert cache.cache_get("plain") == "after"
