"""API keys and the cache endpoints: the cache is one per deployment, so no key reaches them (403).

Stats, rules and snapshots show every tenant's keys, patterns and hit rates, and invalidation and
warming act on all of them: they stay with operators (and, for reads, the legacy DRF-token users).
"""

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("method", "path"), [
    ("get", "stats/"), ("post", "invalidate/"), ("post", "warm/"), ("get", "warming-rules/"), ("get", "snapshots/"),
    ("post", "snapshots/capture/"),
])
def test_cache_endpoints_refuse_api_keys(tenant_a, method, path):
    r = getattr(tenant_a.client, method)(f"/api/v1/cache/{path}", {"tag": "x"}, format="json")
    assert r.status_code == 403, r.content
    assert "declares no scope" in r.json()["error"]["message"] or path in ("invalidate/", "warm/",
                                                                             "snapshots/capture/")
