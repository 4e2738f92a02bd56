"""`Authorization: Api-Key …` through real views: who the caller is, and 401 at once for keys that may not be used.

"At once" includes changes no signal sees (`QuerySet.update()`): the key's row is read on every
request, so these tests change rows with update() and expect the very next request to be refused.
"""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.tenants.models import ApiKey, Tenant
from apps.tenants.services import api_key_revoke, api_key_rotate, tenant_deactivate
from apps.tenants.tests.conftest import key_client
from apps.tenants.tests.factories import ApiKeyFactory, TenantFactory

pytestmark = [pytest.mark.django_db, pytest.mark.urls("apps.tenants.tests.urls")]

PROBE = "/test-tenants/probe/"


def _refused(response, message: str) -> None:
    assert response.status_code == 401, response.content
    assert response["WWW-Authenticate"] == "Api-Key"
    assert response.json() == {"error": {"code": "not_authenticated", "message": message, "details": None}}


def test_a_key_authenticates_as_its_tenant_with_its_scopes(make_key_client):
    client, api_key = make_key_client(scopes=["agents:read", "tasks:read"])
    response = client.get(PROBE)
    assert response.status_code == 200, response.content
    assert response.json() == {"username": f"api-key:{api_key.prefix}", "tenant_id": api_key.tenant_id,
                               "scopes": ["agents:read", "tasks:read"], "auth": api_key.pk}


def test_me_endpoint_works_with_a_key(make_key_client):
    client, api_key = make_key_client()
    assert client.get("/api/v1/me/").json() == {"username": f"api-key:{api_key.prefix}", "is_staff": False}


def test_one_prepared_statement_per_request_and_no_orm_query(make_key_client):
    """The lookup runs on the platform's prepared cursor (outside Django's query log), nothing else does."""
    client, _ = make_key_client()
    client.get(PROBE)  # first use writes last_used_at
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(PROBE).status_code == 200
    assert ctx.captured_queries == []
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s", ["%tenants_apikey k JOIN%"])
        assert cur.fetchone() == (1,)


@pytest.mark.parametrize("raw", ["nodot", "abcdefgh.wrongsecretwrongsecretwrongsecre", "toolongprefix.x", ".x", ""])
def test_unknown_or_malformed_key_is_401(raw):
    ApiKeyFactory()
    response = key_client(raw).get(PROBE)
    if raw == "":
        assert response.status_code == 401  # "Api-Key " with nothing: no credentials at all
    else:
        _refused(response, "Invalid API key.")


def test_right_prefix_wrong_secret_is_401(make_key_client):
    _, api_key = make_key_client()
    _refused(key_client(f"{api_key.prefix}.{'x' * 32}").get(PROBE), "Invalid API key.")


def test_revoked_key_is_refused_on_the_next_request(make_key_client):
    client, api_key = make_key_client()
    assert client.get(PROBE).status_code == 200
    api_key_revoke(api_key=api_key)
    _refused(client.get(PROBE), f"API key {api_key.prefix!r} is revoked.")


def test_key_revoked_with_queryset_update_is_refused_at_once(make_key_client):
    client, api_key = make_key_client()
    assert client.get(PROBE).status_code == 200
    ApiKey.objects.filter(pk=api_key.pk).update(revoked=True, revoked_at=timezone.now())
    _refused(client.get(PROBE), f"API key {api_key.prefix!r} is revoked.")


def test_expired_key_is_refused(make_key_client):
    client, api_key = make_key_client(expiry_date=timezone.now() + timedelta(hours=1))
    assert client.get(PROBE).status_code == 200
    ApiKey.objects.filter(pk=api_key.pk).update(expiry_date=timezone.now() - timedelta(seconds=1))
    _refused(client.get(PROBE), f"API key {api_key.prefix!r} has expired.")


def test_deactivated_tenant_refuses_its_keys_at_once(make_key_client):
    client, api_key = make_key_client()
    assert client.get(PROBE).status_code == 200
    tenant_deactivate(tenant=api_key.tenant)
    _refused(client.get(PROBE), f"Tenant {api_key.tenant.slug!r} is inactive.")


def test_tenant_deactivated_with_queryset_update_is_refused_at_once(make_key_client):
    client, api_key = make_key_client()
    assert client.get(PROBE).status_code == 200
    Tenant.objects.filter(pk=api_key.tenant_id).update(active=False)
    _refused(client.get(PROBE), f"Tenant {api_key.tenant.slug!r} is inactive.")
    Tenant.objects.filter(pk=api_key.tenant_id).update(active=True)
    assert client.get(PROBE).status_code == 200


def test_scopes_narrowed_with_queryset_update_hold_at_once(make_key_client):
    client, api_key = make_key_client(scopes=["agents:read"])
    assert client.get(PROBE).status_code == 200
    ApiKey.objects.filter(pk=api_key.pk).update(scopes=["tasks:read"])
    assert client.get(PROBE).status_code == 403


def test_rotation_overlap_then_revoke_the_old(make_key_client):
    old_client, old = make_key_client()
    new, raw = api_key_rotate(api_key=old)
    new_client = key_client(raw)
    assert old_client.get(PROBE).status_code == 200
    assert new_client.get(PROBE).json()["username"] == f"api-key:{new.prefix}"
    api_key_revoke(api_key=old)
    assert old_client.get(PROBE).status_code == 401
    assert new_client.get(PROBE).status_code == 200


def test_last_used_is_written_at_most_once_per_interval(make_key_client):
    client, api_key = make_key_client()
    assert api_key.last_used_at is None
    client.get(PROBE)
    api_key.refresh_from_db()
    first = api_key.last_used_at
    assert first is not None
    client.get(PROBE)
    api_key.refresh_from_db()
    assert api_key.last_used_at == first  # within the interval: not written again
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=timezone.now() - timedelta(minutes=2))
    client.get(PROBE)
    api_key.refresh_from_db()
    assert api_key.last_used_at > first


def test_token_users_still_authenticate(api_client):
    assert api_client.get("/api/v1/me/").json() == {"username": "service", "is_staff": False}


def test_a_key_is_not_an_admin_user(make_key_client):
    client, _ = make_key_client(scopes=["tenant:admin"])
    response = client.get("/admin/")
    assert response.status_code == 302  # to the login page: keys never reach the admin


def test_other_tenants_keys_are_told_apart():
    tenant_a, tenant_b = TenantFactory(), TenantFactory()
    a, b = ApiKeyFactory(tenant=tenant_a), ApiKeyFactory(tenant=tenant_b)
    assert key_client(a.raw).get(PROBE).json()["tenant_id"] == tenant_a.pk
    assert key_client(b.raw).get(PROBE).json()["tenant_id"] == tenant_b.pk
