"""/api/v1/keys/: tenant admins manage their own tenant's keys; nobody else's, nothing beyond their grant.

Real keys (made by the service), real PostgreSQL and Redis; a refused request is checked to have
written nothing (the keys table before and after).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.exceptions import PermissionDenied

from apps.tenants.models import ApiKey
from apps.tenants.scopes import Scope
from apps.tenants.serializers import ApiKeyCreateSerializer
from apps.tenants.services import api_key_revoke, tenant_deactivate
from apps.tenants.tests.conftest import key_client
from apps.tenants.tests.factories import ApiKeyFactory, TenantFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/keys/"
ADMIN = [Scope.TENANT_ADMIN.value]
SECRET_FIELDS = {"id", "hashed_key", "key"}


@pytest.fixture
def admin_a(make_tenant_caller):
    return make_tenant_caller("tenant-a", scopes=ADMIN)


@pytest.fixture
def admin_b(make_tenant_caller):
    return make_tenant_caller("tenant-b", scopes=ADMIN)


def _keys_table() -> list[str]:
    """Every key row, every column but last_used_at (the authentication writes it, at most once a minute)."""
    with connection.cursor() as cur:
        cur.execute("SELECT (to_jsonb(k) - 'last_used_at')::text FROM tenants_apikey k ORDER BY id")
        return [row[0] for row in cur.fetchall()]


def _create(client, tenant: str | None = None, **body):
    headers = {"HTTP_X_AGENCY_TENANT": tenant} if tenant else {}
    return client.post(URL, {"name": "worker", "scopes": ["agents:read"], **body}, format="json", **headers)


# ---- list and retrieve ------------------------------------------------------------------------
def test_list_shows_only_the_own_tenants_keys_without_secrets(admin_a, admin_b):
    other = ApiKeyFactory(tenant=admin_a.tenant, scopes=["tasks:work"], name="worker")
    ApiKeyFactory(tenant=admin_b.tenant)
    response = admin_a.client.get(URL)
    assert response.status_code == 200, response.content
    rows = response.json()["results"]
    assert {r["prefix"] for r in rows} == {admin_a.key.prefix, other.prefix}
    assert {r["tenant"] for r in rows} == {"tenant-a"}
    worker = next(r for r in rows if r["prefix"] == other.prefix)
    assert worker["name"] == "worker" and worker["scopes"] == ["tasks:work"]
    assert worker["revoked"] is False and worker["expiry_date"] is None and worker["last_used_at"] is None
    for row in rows:
        assert not SECRET_FIELDS & set(row)
        assert other.hashed_key not in response.content.decode()


def test_list_shows_last_use_and_filters_on_revoked(admin_a):
    used = ApiKeyFactory(tenant=admin_a.tenant, scopes=["agents:read"])
    assert key_client(used.raw).get("/api/v1/me/").status_code == 200  # writes last_used_at
    api_key_revoke(api_key=ApiKeyFactory(tenant=admin_a.tenant))
    rows = {r["prefix"]: r for r in admin_a.client.get(URL).json()["results"]}
    assert rows[used.prefix]["last_used_at"] is not None
    live = admin_a.client.get(URL + "?revoked=false").json()["results"]
    assert all(r["revoked"] is False for r in live) and len(live) == 2
    assert len(admin_a.client.get(URL + "?revoked=true").json()["results"]) == 1


def test_retrieve_own_key_and_another_tenants_key_is_404(admin_a, admin_b):
    assert admin_a.client.get(f"{URL}{admin_a.key.prefix}/").json()["prefix"] == admin_a.key.prefix
    response = admin_a.client.get(f"{URL}{admin_b.key.prefix}/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_api_key"
    assert admin_a.client.get(f"{URL}nosuchkey/").status_code == 404


# ---- create -----------------------------------------------------------------------------------
def test_create_shows_the_key_once_and_stores_only_its_hash(admin_a):
    expiry = (timezone.now() + timedelta(days=30)).replace(microsecond=0)
    response = _create(admin_a.client, scopes=["tasks:work", "agents:read", "tasks:work"],
                       expiry_date=expiry.isoformat())
    assert response.status_code == 201, response.content
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    raw = body["key"]
    assert raw.startswith(body["prefix"] + ".")
    assert body["tenant"] == "tenant-a" and body["scopes"] == ["agents:read", "tasks:work"]
    assert body["created_by"] == f"api-key:{admin_a.key.prefix}"
    row = ApiKey.objects.get(prefix=body["prefix"])
    assert row.tenant_id == admin_a.tenant.pk and row.expiry_date == expiry
    assert raw not in "".join(_keys_table())  # not in plain text anywhere in the table
    new = key_client(raw)
    assert new.get("/api/v1/me/").status_code == 200
    assert new.get(URL).status_code == 403  # the new key has no tenant:admin
    listed = admin_a.client.get(f"{URL}{body['prefix']}/").json()
    assert "key" not in listed  # shown once


def test_a_tenant_admin_key_may_mint_a_tenant_admin_key(admin_a):
    response = _create(admin_a.client, scopes=["tenant:admin"])
    assert response.status_code == 201, response.content
    minted = key_client(response.json()["key"])
    assert minted.get(URL).status_code == 200


@pytest.mark.parametrize(("body", "field", "code"), [
    ({"scopes": ["agents:read", "agents:fly", "root"]}, "scopes", "unknown_scope"),
    ({"scopes": []}, "scopes", "invalid"),
    ({"scopes": "agents:read"}, "scopes", "invalid"),
    ({"name": ""}, "name", "invalid"),
    ({"name": "x" * 51}, "name", "invalid"),
    ({"expiry_date": "2001-01-01T00:00:00Z"}, "expiry_date", "expiry_in_past"),
    ({"expiry_date": "next tuesday"}, "expiry_date", "invalid"),
])
def test_bad_input_is_a_400_naming_the_field_and_writes_nothing(admin_a, body, field, code):
    before = _keys_table()
    response = _create(admin_a.client, **body)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == code and error["message"].startswith(f"{field}:"), error
    assert _keys_table() == before


def test_unknown_scopes_are_named(admin_a):
    error = _create(admin_a.client, scopes=["agents:read", "agents:fly", "root"]).json()["error"]
    assert error["details"] == {"scopes": ["agents:fly", "root"]}
    assert "'agents:fly'" in error["message"] and "'root'" in error["message"]


def test_a_key_cannot_grant_scopes_it_does_not_hold():
    """Through the request serializer: no key without tenant:admin reaches the endpoint at all."""
    tenant = TenantFactory()
    serializer = ApiKeyCreateSerializer(data={"name": "n", "scopes": ["agents:read", "memory:write"]},
                                        context={"tenant": tenant, "granted": frozenset({"agents:read"})})
    with pytest.raises(PermissionDenied, match="'memory:write'"):
        serializer.is_valid(raise_exception=True)
    ok = ApiKeyCreateSerializer(data={"name": "n", "scopes": ["agents:read"]},
                                context={"tenant": tenant, "granted": frozenset({"agents:read"})})
    assert ok.is_valid(raise_exception=True)


# ---- revoke and rotate ------------------------------------------------------------------------
def test_revoke_refuses_the_key_on_its_next_request(admin_a):
    worker = ApiKeyFactory(tenant=admin_a.tenant, scopes=["agents:read"])
    worker_client = key_client(worker.raw)
    assert worker_client.get("/api/v1/agents/").status_code == 200
    response = admin_a.client.post(f"{URL}{worker.prefix}/revoke/")
    assert response.status_code == 200, response.content
    assert response.json()["revoked"] is True and response.json()["revoked_at"]
    refused = worker_client.get("/api/v1/agents/")
    assert refused.status_code == 401
    assert refused.json()["error"]["message"] == f"API key {worker.prefix!r} is revoked."
    assert admin_a.client.post(f"{URL}{worker.prefix}/revoke/").status_code == 200  # idempotent


def test_an_admin_key_revoking_itself_is_refused_from_then_on(admin_a):
    assert admin_a.client.post(f"{URL}{admin_a.key.prefix}/revoke/").status_code == 200
    assert admin_a.client.get(URL).status_code == 401


def test_rotate_gives_a_successor_and_both_work_until_the_old_is_revoked(admin_a):
    old = ApiKeyFactory(tenant=admin_a.tenant, scopes=["agents:read", "tasks:read"], name="svc")
    response = admin_a.client.post(f"{URL}{old.prefix}/rotate/", {}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["rotated_from"] == old.prefix and body["name"] == "svc"
    assert body["scopes"] == ["agents:read", "tasks:read"]
    new_client, old_client = key_client(body["key"]), key_client(old.raw)
    assert new_client.get("/api/v1/me/").status_code == 200
    assert old_client.get("/api/v1/me/").status_code == 200  # overlap
    assert admin_a.client.post(f"{URL}{old.prefix}/revoke/").status_code == 200
    assert old_client.get("/api/v1/me/").status_code == 401
    assert new_client.get("/api/v1/me/").status_code == 200


def test_rotate_with_a_new_expiry_and_refusals(admin_a):
    old = ApiKeyFactory(tenant=admin_a.tenant)
    expiry = (timezone.now() + timedelta(days=7)).replace(microsecond=0)
    body = admin_a.client.post(f"{URL}{old.prefix}/rotate/", {"expiry_date": expiry.isoformat()},
                               format="json").json()
    assert ApiKey.objects.get(prefix=body["prefix"]).expiry_date == expiry
    before = _keys_table()
    past = admin_a.client.post(f"{URL}{old.prefix}/rotate/", {"expiry_date": "2001-01-01T00:00:00Z"}, format="json")
    assert past.status_code == 400 and past.json()["error"]["code"] == "expiry_in_past"
    api_key_revoke(api_key=old)
    before = _keys_table()
    revoked = admin_a.client.post(f"{URL}{old.prefix}/rotate/", {}, format="json")
    assert revoked.status_code == 400 and revoked.json()["error"]["code"] == "revoked_api_key"
    assert _keys_table() == before


# ---- the other tenant, scopes, credentials -----------------------------------------------------
def test_another_tenants_key_is_404_for_every_action_and_stays_unchanged(admin_a, admin_b):
    target = admin_b.key.prefix
    before = _keys_table()
    assert admin_a.client.get(f"{URL}{target}/").status_code == 404
    assert admin_a.client.post(f"{URL}{target}/revoke/").status_code == 404
    assert admin_a.client.post(f"{URL}{target}/rotate/", {}, format="json").status_code == 404
    assert _keys_table() == before
    assert admin_b.client.get(URL).status_code == 200  # B's key still works


def test_a_key_may_not_name_another_tenant(admin_a, admin_b):
    response = admin_a.client.post(URL, {"name": "x", "scopes": ["agents:read"]}, format="json",
                                   HTTP_X_AGENCY_TENANT="tenant-b")
    assert response.status_code == 403
    assert not ApiKey.objects.filter(tenant=admin_b.tenant, name="x").exists()


def test_missing_scope_is_403_naming_it(make_tenant_caller):
    caller = make_tenant_caller("tenant-c")  # every data scope, not tenant:admin
    before = _keys_table()
    for response in (caller.client.get(URL), _create(caller.client),
                     caller.client.post(f"{URL}{caller.key.prefix}/revoke/")):
        assert response.status_code == 403
        assert "'tenant:admin'" in response.json()["error"]["message"]
    assert _keys_table() == before


def test_legacy_token_users_may_not_manage_keys(api_client):
    response = api_client.get(URL)
    assert response.status_code == 403
    assert "DRF tokens" in response.json()["error"]["message"]


def test_anonymous_is_401(client):
    assert client.get(URL).status_code == 401


def test_an_expired_or_deactivated_admin_key_is_401(admin_a):
    ApiKey.objects.filter(pk=admin_a.key.pk).update(expiry_date=timezone.now() - timedelta(seconds=1))
    assert admin_a.client.get(URL).status_code == 401
    ApiKey.objects.filter(pk=admin_a.key.pk).update(expiry_date=None)
    assert admin_a.client.get(URL).status_code == 200
    tenant_deactivate(tenant=admin_a.tenant)
    assert admin_a.client.get(URL).status_code == 401


# ---- operators --------------------------------------------------------------------------------
def test_operators_work_across_tenants_and_name_one_to_create(operator_client, admin_a, admin_b):
    prefixes = {r["prefix"] for r in operator_client.get(URL + "?limit=1000").json()["results"]}
    assert {admin_a.key.prefix, admin_b.key.prefix} <= prefixes
    scoped = operator_client.get(URL, HTTP_X_AGENCY_TENANT="tenant-b").json()["results"]
    assert {r["prefix"] for r in scoped} == {admin_b.key.prefix}
    missing = _create(operator_client)
    assert missing.status_code == 400 and missing.json()["error"]["code"] == "tenant_required"
    made = _create(operator_client, scopes=["tenant:admin"], tenant="tenant-b")
    assert made.status_code == 201 and made.json()["tenant"] == "tenant-b"
    assert made.json()["created_by"] == "user:operator"
    assert operator_client.post(f"{URL}{admin_a.key.prefix}/revoke/").status_code == 200
    assert admin_a.client.get(URL).status_code == 401


def test_operators_cannot_make_a_key_for_an_inactive_tenant(operator_client):
    tenant = TenantFactory(slug="sleepy", active=False)
    before = _keys_table()
    response = _create(operator_client, tenant="sleepy")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "inactive_tenant"
    assert _keys_table() == before and not ApiKey.objects.filter(tenant=tenant).exists()


def test_operator_naming_an_unknown_tenant_is_400(operator_client):
    response = _create(operator_client, tenant="nope")
    assert response.status_code == 400 and response.json()["error"]["code"] == "unknown_tenant"


def test_the_key_endpoints_are_in_the_schema(operator_client):
    paths = operator_client.get("/api/schema/?format=json").json()["paths"]
    assert {"/api/v1/keys/", "/api/v1/keys/{prefix}/", "/api/v1/keys/{prefix}/revoke/",
            "/api/v1/keys/{prefix}/rotate/"} <= set(paths)
    assert "ApiKeyCreateRequest" in str(paths["/api/v1/keys/"]["post"]["requestBody"])
    assert "201" in paths["/api/v1/keys/{prefix}/rotate/"]["post"]["responses"]


def test_the_api_root_lists_keys(operator_client):
    assert operator_client.get("/api/v1/").json()["keys"].endswith("/api/v1/keys/")
