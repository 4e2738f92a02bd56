"""AGENCY_API_RATE on every DRF view (REST_FRAMEWORK's DEFAULT_THROTTLE_CLASSES), in the real Redis.

Views that had no throttle before (/api/v1/me/, the audit lists) answer 429 with Retry-After and
the one error body past the rate: per API key and tenant, per user (tokens, operators), anonymous
per address. /health/ and /metrics are never throttled. Rates are per day so that no window
boundary falls inside a test; each test has its own tenants, keys and users, hence its own counters.
"""

from __future__ import annotations

import pytest
from django.test import override_settings
from django.urls import URLPattern, URLResolver, get_resolver, include, path
from rest_framework.response import Response
from rest_framework.test import APIClient
from rest_framework.views import APIView

from apps.console.views import HealthView
from apps.tenants.tests.conftest import key_client
from apps.tenants.tests.factories import ApiKeyFactory, TenantFactory
from apps.tenants.throttling import TenantRateThrottle

pytestmark = pytest.mark.django_db

ME = "/api/v1/me/"
AUDIT = "/api/v1/audit/changes/"


class OpenProbe(APIView):
    """Anyone may call it (like a public schema would be): the anonymous path of the throttle."""

    permission_classes: list = []
    authentication_classes: list = []

    def get(self, request):
        return Response({"ok": True})


urlpatterns = [path("test-throttle/open/", OpenProbe.as_view()), path("", include("agency.urls"))]


def _throttled(response, what: str, rate: str) -> None:
    assert response.status_code == 429, response.content
    assert 1 <= int(response["Retry-After"]) <= 86400
    error = response.json()["error"]
    assert error["code"] == "throttled" and error["details"] is None
    assert error["message"].startswith(f"Request rate of {what} ({rate}) exceeded.")


def _drf_views(patterns, prefix: str = "") -> list[tuple[str, type]]:
    found = []
    for p in patterns:
        if isinstance(p, URLResolver):
            found += _drf_views(p.url_patterns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern) and getattr(p.callback, "cls", None) is not None:
            found.append((prefix + str(p.pattern), p.callback.cls))
    return found


def test_every_drf_view_of_the_project_is_throttled_but_health_and_metrics():
    views = _drf_views(get_resolver("agency.urls").url_patterns)
    assert len(views) > 30  # the whole API, not an empty walk
    unthrottled = {route for route, cls in views if TenantRateThrottle not in cls.throttle_classes}
    assert unthrottled <= {"health/", "metrics"} and "health/" in unthrottled
    assert HealthView.throttle_classes == []


def test_me_with_an_api_key_is_throttled_by_its_tenant_rate():
    tenant = TenantFactory(request_rate="3/day")
    client = key_client(ApiKeyFactory(tenant=tenant).raw)
    assert [client.get(ME).status_code for _ in range(3)] == [200, 200, 200]
    _throttled(client.get(ME), f"tenant {tenant.slug!r}", "3/day")


@override_settings(AGENCY_API_RATE="2/day")
def test_me_with_a_token_user_is_throttled_per_user(api_client, django_user_model):
    assert [api_client.get(ME).status_code for _ in range(2)] == [200, 200]
    _throttled(api_client.get(ME), "user 'service'", "2/day")
    other = django_user_model.objects.create_user(username="other-service", password="pw-other-123")
    other_client = APIClient()
    other_client.force_authenticate(other)
    assert other_client.get(ME).status_code == 200  # another user's budget is its own


@override_settings(AGENCY_API_RATE="2/day")
def test_audit_list_is_throttled_per_operator_whatever_tenant_is_named(operator_client):
    tenant = TenantFactory()
    assert operator_client.get(AUDIT).status_code == 200
    assert operator_client.get(AUDIT, HTTP_X_AGENCY_TENANT=tenant.slug).status_code == 200
    _throttled(operator_client.get(AUDIT, HTTP_X_AGENCY_TENANT=tenant.slug), "user 'operator'", "2/day")
    _throttled(operator_client.get(ME), "user 'operator'", "2/day")  # one budget for the whole API


@override_settings(AGENCY_API_KEY_RATE="2/day")
def test_windows_are_per_key_and_a_refused_request_spends_no_tenant_budget():
    tenant = TenantFactory(request_rate="5/day")
    first, second, third = (ApiKeyFactory(tenant=tenant) for _ in range(3))
    a, b, c = key_client(first.raw), key_client(second.raw), key_client(third.raw)
    assert [a.get(ME).status_code for _ in range(2)] == [200, 200]
    for _ in range(3):  # past its own rate: refused, and counted against nothing
        _throttled(a.get(ME), f"API key {first.prefix!r}", "2/day")
    assert [b.get(ME).status_code for _ in range(2)] == [200, 200]  # 4 of the tenant's 5
    _throttled(b.get(ME), f"API key {second.prefix!r}", "2/day")
    assert c.get(ME).status_code == 200  # the fifth
    _throttled(c.get(ME), f"tenant {tenant.slug!r}", "5/day")  # c's own window has room; the tenant's has not


@pytest.mark.urls("apps.tenants.tests.test_throttle_everywhere")
@override_settings(AGENCY_API_RATE="2/day")
def test_anonymous_callers_are_counted_per_address_and_x_forwarded_for_does_not_reset_it():
    one, two = APIClient(REMOTE_ADDR="198.51.100.7"), APIClient(REMOTE_ADDR="198.51.100.8")
    url = "/test-throttle/open/"
    assert [one.get(url).status_code for _ in range(2)] == [200, 200]
    _throttled(one.get(url), "address 198.51.100.7", "2/day")
    _throttled(one.get(url, HTTP_X_FORWARDED_FOR="203.0.113.9"), "address 198.51.100.7", "2/day")
    assert two.get(url).status_code == 200


@override_settings(AGENCY_API_RATE="1/day")
def test_health_and_metrics_are_never_throttled(client, operator_client):
    for _ in range(3):
        assert client.get("/health/").status_code in (200, 503)
        assert client.get("/metrics").status_code != 429
        assert operator_client.get("/metrics").status_code == 200  # an operator may read it, unthrottled
