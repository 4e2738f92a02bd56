"""Cache API: stats, operator-only invalidation, warming rules and stats snapshots; admin pages."""

import pytest
from django_redis import get_redis_connection

from apps.cache.models import CacheStatsSnapshot, WarmingRule
from apps.cache.tests.factories import CacheStatsSnapshotFactory, WarmingRuleFactory
from apps.platform import cache

pytestmark = pytest.mark.django_db


def test_stats_report_levels_cluster_and_redis(api_client):
    cache.cache_set("s", 1)
    cache.cache_get("s")
    cache.cache_get("missing")
    body = api_client.get("/api/v1/cache/stats/").json()
    assert body["process"]["l2_misses"] >= 1
    assert body["process"]["l1_hits"] + body["process"]["l2_hits"] >= 1
    assert body["cluster"]["l2_misses"] >= 1  # flushed to Redis
    assert body["redis"]["up"] is True and body["redis"]["keys"] >= 1
    assert 0 <= body["cluster"]["hit_rate"] <= 1


def test_invalidate_is_operator_only(api_client, operator_client):
    cache.cache_set("t:1", 1, tags=["t"])
    r = api_client.post("/api/v1/cache/invalidate/", {"tags": ["t"]}, format="json")
    assert r.status_code == 403
    assert cache.cache_get("t:1") == 1
    r = operator_client.post("/api/v1/cache/invalidate/", {"tags": ["t"]}, format="json")
    assert r.status_code == 200 and r.json()["deleted"] >= 1
    assert cache.cache_get("t:1") is None


def test_invalidate_by_pattern_and_keys(operator_client):
    cache.cache_set("p:1", 1)
    cache.cache_set("p:2", 2)
    cache.cache_set("k", 3)
    assert operator_client.post("/api/v1/cache/invalidate/", {"pattern": "p:*"}, format="json").json() == {"deleted": 2}
    assert operator_client.post("/api/v1/cache/invalidate/", {"keys": ["k"]}, format="json").json() == {"deleted": 1}


@pytest.mark.parametrize(
    ("body", "text"),
    [({"pattern": "*"}, "allow_all"), ({"pattern": ""}, "allow_all"), ({}, "exactly one"),
     ({"tags": ["a"], "pattern": "x*"}, "exactly one"), ({"tags": []}, "tags"), ({"keys": ["x" * 2000]}, "limit")],
)
def test_bad_invalidation_is_400_and_nothing_is_deleted(operator_client, body, text):
    cache.cache_set("survivor", 1)
    r = operator_client.post("/api/v1/cache/invalidate/", body, format="json")
    assert r.status_code == 400
    assert text in r.json()["error"]["message"]
    assert cache.cache_get("survivor") == 1


def test_everything_can_be_deleted_with_the_explicit_flag(operator_client):
    cache.cache_set("x", 1)
    r = operator_client.post("/api/v1/cache/invalidate/", {"pattern": "*", "allow_all": True}, format="json")
    assert r.status_code == 200 and cache.cache_get("x") is None


def test_warming_rules_crud(api_client, operator_client):
    body = {"name": "agents", "model_label": "agents.Agent", "ttl": 600, "priority": 5}
    r = operator_client.post("/api/v1/cache/warming-rules/", body, format="json")
    assert r.status_code == 201, r.content
    rule_id = r.json()["id"]
    assert api_client.get("/api/v1/cache/warming-rules/").json()["results"][0]["name"] == "agents"
    assert api_client.get(f"/api/v1/cache/warming-rules/{rule_id}/").json()["ttl"] == 600
    assert api_client.post("/api/v1/cache/warming-rules/", {"name": "x", "key_pattern": "a:*"},
                           format="json").status_code == 403
    r = operator_client.patch(f"/api/v1/cache/warming-rules/{rule_id}/", {"ttl": 60}, format="json")
    assert r.status_code == 200 and r.json()["ttl"] == 60
    assert api_client.get(f"/api/v1/cache/warming-rules/{rule_id}/").json()["ttl"] == 60
    assert operator_client.delete(f"/api/v1/cache/warming-rules/{rule_id}/").status_code == 204
    assert api_client.get(f"/api/v1/cache/warming-rules/{rule_id}/").status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [({"name": "a", "model_label": "nope.Model"}, "model_label"),
     ({"name": "a", "model_label": "agents.Agent", "key_pattern": "x*"}, "model_label"),
     ({"name": "a"}, "model_label"),
     ({"name": "a", "key_pattern": "**"}, "key_pattern"),
     ({"name": "a", "key_pattern": "a:*", "ttl": 0}, "ttl"),
     ({"name": "taken", "key_pattern": "a:*"}, "name")],
)
def test_bad_warming_rule_is_400_and_db_unchanged(operator_client, body, field):
    WarmingRuleFactory(name="taken")
    r = operator_client.post("/api/v1/cache/warming-rules/", body, format="json")
    assert r.status_code == 400, r.content
    assert field in r.json()["error"]["message"]
    assert WarmingRule.objects.count() == 1


def test_snapshots_list_and_capture(api_client, operator_client):
    CacheStatsSnapshotFactory()
    assert api_client.get("/api/v1/cache/snapshots/").json()["count"] == 1
    assert api_client.post("/api/v1/cache/snapshots/capture/").status_code == 403
    r = operator_client.post("/api/v1/cache/snapshots/capture/")
    assert r.status_code == 201 and r.json()["redis_up"] is True
    assert CacheStatsSnapshot.objects.count() == 2


def test_warm_endpoint_is_operator_only(api_client, operator_client, django_capture_on_commit_callbacks):
    assert api_client.post("/api/v1/cache/warm/", {}, format="json").status_code == 403
    with django_capture_on_commit_callbacks() as callbacks:
        assert operator_client.post("/api/v1/cache/warm/", {"limit": 10}, format="json").status_code == 202
    assert len(callbacks) == 1


def test_admin_pages_render_with_current_stats(operator, client):
    client.force_login(operator)
    CacheStatsSnapshotFactory()
    WarmingRuleFactory()
    r = client.get("/admin/cache/cachestatssnapshot/")
    assert r.status_code == 200 and b"Current cache stats" in r.content
    assert client.get("/admin/cache/warmingrule/").status_code == 200
    snap = CacheStatsSnapshot.objects.first()
    assert client.get(f"/admin/cache/cachestatssnapshot/{snap.pk}/change/").status_code == 200
    r = client.post("/admin/cache/cachestatssnapshot/",
                    {"action": "capture_now", "_selected_action": [str(snap.pk)]})
    assert r.status_code == 302 and CacheStatsSnapshot.objects.count() == 2


def test_metrics_export_cache_counters(operator_client):
    cache.cache_get("anything")
    body = operator_client.get("/metrics").content.decode()
    assert 'agency_cache_requests_total{alias="default",level="l2",result="miss"}' in body
    assert 'agency_cache_l2_keys{alias="default"}' in body
    assert get_redis_connection("default") is not None


def test_admin_warm_now_action_calls_the_service(operator, client):
    client.force_login(operator)
    rule = WarmingRuleFactory()
    r = client.post("/admin/cache/warmingrule/", {"action": "warm_now", "_selected_action": [str(rule.pk)]},
                    follow=True)
    assert r.status_code == 200 and b"Cache warmed" in r.content


def test_stats_need_authentication(client):
    assert client.get("/api/v1/cache/stats/").status_code in (401, 403)
