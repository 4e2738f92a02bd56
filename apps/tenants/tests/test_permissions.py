"""Scopes per action and per method (403 naming the scope), operators passing all, and `request_tenant_id`."""

import pytest

from apps.tenants.selectors import default_tenant_id
from apps.tenants.tests.factories import TenantFactory

pytestmark = [pytest.mark.django_db, pytest.mark.urls("apps.tenants.tests.urls")]

PROBE = "/test-tenants/probe/"
METHOD_PROBE = "/test-tenants/method-probe/"


def _forbidden(response, message: str) -> None:
    assert response.status_code == 403, response.content
    assert response.json() == {"error": {"code": "permission_denied", "message": message, "details": None}}


def test_missing_scope_is_403_naming_it(make_key_client):
    client, _ = make_key_client(scopes=["agents:read"])
    assert client.get(PROBE).status_code == 200
    _forbidden(client.post(PROBE), "Missing scope 'agents:write': this request needs an API key with the scope "
                                   "'agents:write'.")


def test_scopes_by_http_method(make_key_client):
    client, _ = make_key_client(scopes=["tasks:read"])
    assert client.get(METHOD_PROBE).status_code == 200
    assert client.head(METHOD_PROBE).status_code == 200
    _forbidden(client.post(METHOD_PROBE), "Missing scope 'tasks:work': this request needs an API key with the "
                                          "scope 'tasks:work'.")


def test_tenant_admin_holds_every_scope_of_its_tenant(make_key_client):
    client, _ = make_key_client(scopes=["tenant:admin"])
    assert client.post(PROBE).status_code == 201
    assert client.post(METHOD_PROBE).status_code == 200


def test_an_undeclared_action_is_for_operators_only(make_key_client, operator_client):
    client, _ = make_key_client(scopes=["tenant:admin"])
    _forbidden(client.delete(PROBE + "1/"), "This endpoint declares no scope for 'destroy'; only operators may "
                                            "call it.")
    assert operator_client.delete(PROBE + "1/").status_code == 204


def test_anonymous_is_401():
    from rest_framework.test import APIClient

    assert APIClient().get(PROBE).status_code == 401


def test_a_legacy_token_user_holds_every_scope_for_the_default_tenant(api_client):
    """The deprecated DRF-token path: a non-staff user acts for `default` with every scope (see request_tenant_id)."""
    assert api_client.get(PROBE).json()["tenant_id"] == default_tenant_id()
    assert api_client.post(PROBE).status_code == 201
    assert api_client.post(METHOD_PROBE).status_code == 200


def test_a_legacy_token_user_cannot_call_undeclared_actions_or_choose_a_tenant(api_client):
    _forbidden(api_client.delete(PROBE + "1/"), "This endpoint declares no scope for 'destroy'; only operators may "
                                                "call it.")
    other = TenantFactory()
    _forbidden(api_client.get(PROBE, HTTP_X_AGENCY_TENANT=other.slug),
               "X-Agency-Tenant: only operators may name a tenant; this token belongs to 'default'")
    assert api_client.get(PROBE, HTTP_X_AGENCY_TENANT="default").status_code == 200


def test_operator_passes_every_scope_and_sees_all_tenants(operator_client):
    assert operator_client.post(PROBE).status_code == 201
    assert operator_client.get(PROBE).json()["tenant_id"] is None


def test_operator_names_a_tenant_by_header(operator_client):
    tenant = TenantFactory(active=False)  # operators may work on inactive tenants
    response = operator_client.get(PROBE, HTTP_X_AGENCY_TENANT=tenant.slug)
    assert response.json()["tenant_id"] == tenant.pk


def test_operator_naming_an_unknown_tenant_is_400_naming_it(operator_client):
    response = operator_client.get(PROBE, HTTP_X_AGENCY_TENANT="nope")
    assert response.status_code == 400
    assert response.json() == {"error": {"code": "unknown_tenant",
                                         "message": "X-Agency-Tenant: tenant 'nope' does not exist",
                                         "details": {"tenant": "nope"}}}


def test_a_key_cannot_choose_another_tenant(make_key_client):
    client, api_key = make_key_client()
    other = TenantFactory()
    response = client.get(PROBE, HTTP_X_AGENCY_TENANT=other.slug)
    _forbidden(response, f"X-Agency-Tenant: only operators may name a tenant; this key belongs to "
                         f"{api_key.tenant.slug!r}")
    # a slug that does not exist gets the same answer: no existence leak
    assert client.get(PROBE, HTTP_X_AGENCY_TENANT="no-such-tenant").status_code == 403
    # repeating its own tenant is harmless
    assert client.get(PROBE, HTTP_X_AGENCY_TENANT=api_key.tenant.slug).json()["tenant_id"] == api_key.tenant_id
