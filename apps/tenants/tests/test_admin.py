"""The admin: tenants and keys with filters and search, a new key shown once, revoke and rotate actions."""

import re

import pytest
from django.contrib import admin
from django.urls import reverse
from rest_framework_api_key.models import APIKey

from apps.tenants.models import ApiKey, Tenant
from apps.tenants.tests.conftest import key_client
from apps.tenants.tests.factories import ApiKeyFactory, TenantFactory

pytestmark = [pytest.mark.django_db, pytest.mark.urls("apps.tenants.tests.urls")]

PROBE = "/test-tenants/probe/"


@pytest.fixture
def admin_client_(client, operator):
    client.force_login(operator)
    return client


def test_only_the_project_key_model_is_registered():
    assert admin.site.is_registered(ApiKey) and not admin.site.is_registered(APIKey)


def test_tenant_changelist_filters_and_search(admin_client_):
    TenantFactory(slug="findme", active=False)
    TenantFactory(slug="other")
    url = reverse("admin:tenants_tenant_changelist")
    body = admin_client_.get(url, {"q": "findme"}).content
    assert b"findme" in body and b"other" not in body
    body = admin_client_.get(url, {"active__exact": "0"}).content
    assert b"findme" in body and b"other" not in body


def test_tenant_add_goes_through_the_service(admin_client_):
    response = admin_client_.post(reverse("admin:tenants_tenant_add"), {
        "slug": "acme", "name": "Acme", "active": "on", "max_collections": "", "max_embeddings": "",
        "max_pending_tasks": "", "request_rate": ""})
    assert response.status_code == 302, response.content
    tenant = Tenant.objects.get(slug="acme")
    assert tenant.request_rate is None and tenant.max_collections is None
    response = admin_client_.post(reverse("admin:tenants_tenant_add"), {"slug": "Bad Slug", "name": "x"})
    assert response.status_code == 200 and b"slug must be 2-63" in response.content


def test_deactivate_action(admin_client_):
    api_key = ApiKeyFactory()
    admin_client_.post(reverse("admin:tenants_tenant_changelist"),
                       {"action": "deactivate", "_selected_action": [api_key.tenant_id]})
    assert key_client(api_key.raw).get(PROBE).status_code == 401


def test_adding_a_key_shows_it_once_and_it_works(admin_client_):
    tenant = TenantFactory()
    response = admin_client_.post(reverse("admin:tenants_apikey_add"), {
        "name": "from-admin", "tenant": tenant.pk, "scopes": ["agents:read", "agents:write"], "expiry_date_0": "",
        "expiry_date_1": ""}, follow=True)
    assert response.status_code == 200
    text = response.content.decode()
    raw = re.search(r"The API key for from-admin is: ([A-Za-z0-9]{8}\.[A-Za-z0-9]{32})", text).group(1)
    api_key = ApiKey.objects.get(name="from-admin")
    assert api_key.created_by == "user:operator" and api_key.scopes == ["agents:read", "agents:write"]
    assert key_client(raw).post(PROBE).status_code == 201
    change = admin_client_.get(reverse("admin:tenants_apikey_change", args=[api_key.pk])).content.decode()
    assert raw not in change and raw.split(".")[1] not in change


def test_admin_refuses_a_key_the_services_would_refuse(admin_client_):
    tenant = TenantFactory(active=False)
    response = admin_client_.post(reverse("admin:tenants_apikey_add"), {
        "name": "nope", "tenant": tenant.pk, "scopes": ["agents:read"], "expiry_date_0": "", "expiry_date_1": ""})
    assert response.status_code == 200 and b"is inactive" in response.content
    response = admin_client_.post(reverse("admin:tenants_apikey_add"), {
        "name": "nope", "tenant": TenantFactory().pk, "scopes": ["agents:read"], "expiry_date_0": "2001-01-01",
        "expiry_date_1": "00:00:00"})
    assert response.status_code == 200 and b"is in the past" in response.content
    assert not ApiKey.objects.exists()


def test_key_changelist_search_filter_and_revoke_action(admin_client_):
    keep, drop = ApiKeyFactory(name="keep-me"), ApiKeyFactory(name="drop-me")
    url = reverse("admin:tenants_apikey_changelist")
    body = admin_client_.get(url, {"q": drop.prefix}).content
    assert b"drop-me" in body and b"keep-me" not in body
    body = admin_client_.get(url, {"tenant__id__exact": keep.tenant_id}).content
    assert b"keep-me" in body and b"drop-me" not in body
    admin_client_.post(url, {"action": "revoke", "_selected_action": [drop.pk]})
    assert key_client(drop.raw).get(PROBE).status_code == 401
    assert key_client(keep.raw).get(PROBE).status_code == 200
    assert admin_client_.get(url, {"revoked__exact": "1"}).content.count(b"drop-me") >= 1


def test_rotate_action_shows_the_new_key_once(admin_client_):
    old = ApiKeyFactory(name="svc")
    response = admin_client_.post(reverse("admin:tenants_apikey_changelist"),
                                  {"action": "rotate", "_selected_action": [old.pk]}, follow=True)
    raw = re.search(r"is: ([A-Za-z0-9]{8}\.[A-Za-z0-9]{32})", response.content.decode()).group(1)
    assert key_client(raw).get(PROBE).status_code == 200
    assert ApiKey.objects.get(rotated_from=old).prefix == raw.split(".")[0]
