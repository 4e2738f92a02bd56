"""Throttles per tenant and per key (and per user), in the real Redis: 429 with Retry-After and the one error body.

Rates are per day in these tests, so that a window boundary (midnight UTC) does not fall inside one.
"""

import pytest
from django.test import override_settings

from apps.tenants.tests.conftest import key_client
from apps.tenants.tests.factories import ApiKeyFactory, TenantFactory

pytestmark = [pytest.mark.django_db, pytest.mark.urls("apps.tenants.tests.urls")]

PROBE = "/test-tenants/probe/"
ANY_CALLER = "/test-tenants/any-caller-probe/"


def _throttled(response, what: str, rate: str) -> None:
    assert response.status_code == 429, response.content
    wait = int(response["Retry-After"])
    assert 1 <= wait <= 86400
    body = response.json()
    assert body["error"]["code"] == "throttled" and body["error"]["details"] is None
    assert body["error"]["message"].startswith(f"Request rate of {what} ({rate}) exceeded. Expected available in ")


def test_tenant_rate_is_shared_by_its_keys_and_answers_429_with_retry_after():
    tenant = TenantFactory(request_rate="3/day")
    a, b = key_client(ApiKeyFactory(tenant=tenant).raw), key_client(ApiKeyFactory(tenant=tenant).raw)
    assert [a.get(PROBE).status_code, b.get(PROBE).status_code, a.get(PROBE).status_code] == [200, 200, 200]
    _throttled(b.get(PROBE), f"tenant {tenant.slug!r}", "3/day")
    # another tenant's budget is its own
    other = key_client(ApiKeyFactory(tenant=TenantFactory(request_rate="3/day")).raw)
    assert other.get(PROBE).status_code == 200


@override_settings(AGENCY_API_KEY_RATE="2/day")
def test_key_rate_limits_one_key_within_its_tenant():
    tenant = TenantFactory(request_rate="100/day")
    first = ApiKeyFactory(tenant=tenant)
    client = key_client(first.raw)
    assert [client.get(PROBE).status_code for _ in range(2)] == [200, 200]
    _throttled(client.get(PROBE), f"API key {first.prefix!r}", "2/day")
    assert key_client(ApiKeyFactory(tenant=tenant).raw).get(PROBE).status_code == 200


@override_settings(AGENCY_API_RATE="2/day")
def test_default_rate_applies_to_tenants_without_one_and_to_users(api_client, user):
    client = key_client(ApiKeyFactory(tenant=TenantFactory(request_rate=None)).raw)
    assert [client.get(PROBE).status_code for _ in range(2)] == [200, 200]
    assert client.get(PROBE).status_code == 429
    assert [api_client.get(ANY_CALLER).status_code for _ in range(2)] == [200, 200]
    _throttled(api_client.get(ANY_CALLER), "user 'service'", "2/day")
