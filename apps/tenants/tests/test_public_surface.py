"""What production shows without a credential: /health/'s status only; /metrics, /api/schema/ and
/api/docs/ need a credential (or a setting that opens them), and say so in the one JSON error body.

The test settings run with DEBUG off, as production does.
"""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from apps.tenants.services import api_key_revoke

pytestmark = pytest.mark.django_db

TOKEN = "s3cret-metrics-token-for-prometheus-0123456789"
PROMETHEUS_ACCEPT = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
DETAIL_KEYS = {"latency_ms", "server_version", "pgvector_version", "error", "workers", "required"}


def _bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def _error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    return body["error"]


# ---- /health/ ---------------------------------------------------------------------------------
def test_anonymous_health_has_the_status_per_component_and_nothing_else(client):
    body = client.get("/health/").json()
    assert body["status"] in ("ok", "degraded", "down")
    assert set(body) == {"status", "components"}
    assert set(body["components"]) == {"postgres", "redis", "celery"}
    for component in body["components"].values():
        assert set(component) == {"ok"}
    assert b"server_version" not in client.get("/health/").content


def test_anonymous_health_with_an_api_key_or_a_token_user_has_no_details(make_key_client, api_client):
    key_client, _ = make_key_client(scopes=["tenant:admin"])
    for caller in (key_client, api_client):
        components = caller.get("/health/").json()["components"]
        assert all(set(c) == {"ok"} for c in components.values())


def test_operators_and_the_metrics_token_see_versions(operator_client, settings):
    settings.AGENCY_METRICS_TOKEN = TOKEN
    for caller in (operator_client, _bearer(TOKEN)):
        body = caller.get("/health/").json()
        postgres = body["components"]["postgres"]
        assert postgres["ok"] is True and postgres["pgvector_version"].startswith("0.8")
        assert "server_version" in body["components"]["redis"]
        assert "latency_ms" in postgres and "required" in postgres


def test_health_with_a_wrong_bearer_token_is_401(settings):
    settings.AGENCY_METRICS_TOKEN = TOKEN
    _error(_bearer("wrong").get("/health/"), 401, "not_authenticated")


def test_debug_shows_the_details_to_everybody(client, settings):
    settings.DEBUG = True
    assert "latency_ms" in client.get("/health/").json()["components"]["postgres"]


# ---- /metrics ---------------------------------------------------------------------------------
def test_anonymous_metrics_is_a_json_401_even_for_prometheus_accept(client):
    response = client.get("/metrics", HTTP_ACCEPT=PROMETHEUS_ACCEPT)
    error = _error(response, 401, "not_authenticated")
    assert "django_http" not in response.content.decode()
    assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert error["message"]
    _error(client.get("/metrics", HTTP_ACCEPT="text/plain"), 401, "not_authenticated")


def test_metrics_token_reads_metrics(settings):
    settings.AGENCY_METRICS_TOKEN = TOKEN
    response = _bearer(TOKEN).get("/metrics", HTTP_ACCEPT=PROMETHEUS_ACCEPT)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert b"django_http_requests" in response.content


def test_wrong_or_unconfigured_metrics_token_is_401(settings):
    settings.AGENCY_METRICS_TOKEN = TOKEN
    error = _error(_bearer(TOKEN + "x").get("/metrics"), 401, "not_authenticated")
    assert error["message"] == "Invalid metrics token."
    _error(_bearer("").get("/metrics"), 401, "not_authenticated")
    settings.AGENCY_METRICS_TOKEN = ""
    error = _error(_bearer(TOKEN).get("/metrics"), 401, "not_authenticated")
    assert "AGENCY_METRICS_TOKEN" in error["message"]


def test_operators_read_metrics_by_session_and_by_token(operator_client, client, operator):
    assert operator_client.get("/metrics").status_code == 200
    client.force_login(operator)
    assert client.get("/metrics").status_code == 200


def test_api_keys_and_non_staff_users_may_not_read_metrics(make_key_client, api_client):
    key_client, _ = make_key_client(scopes=["tenant:admin"])
    for caller in (key_client, api_client):
        error = _error(caller.get("/metrics"), 403, "permission_denied")
        assert "operators" in error["message"]


def test_public_metrics_setting_opens_metrics(client, settings):
    settings.AGENCY_PUBLIC_METRICS = True
    assert client.get("/metrics").status_code == 200
    settings.AGENCY_PUBLIC_METRICS = False
    settings.DEBUG = True
    assert client.get("/metrics").status_code == 200


# ---- /api/schema/ and /api/docs/ --------------------------------------------------------------
def test_anonymous_schema_is_a_json_401_not_yaml(client):
    response = client.get("/api/schema/")
    _error(response, 401, "not_authenticated")
    assert b"openapi" not in response.content
    _error(client.get("/api/schema/?format=json"), 401, "not_authenticated")


def test_anonymous_docs_is_a_json_401_for_programs_and_a_login_redirect_for_browsers(client):
    response = client.get("/api/docs/")
    _error(response, 401, "not_authenticated")
    assert b"<html" not in response.content.lower()
    browser = client.get("/api/docs/", HTTP_ACCEPT="text/html,application/xhtml+xml,*/*;q=0.8")
    assert browser.status_code == 302
    assert browser["Location"] == "/admin/login/?next=/api/docs/"


def test_a_bad_credential_at_the_docs_is_a_401_even_from_a_browser():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    response = client.get("/api/docs/", HTTP_ACCEPT="text/html")
    error = _error(response, 401, "not_authenticated")
    assert error["message"] == "Invalid token."


def test_any_credential_reads_the_schema_and_the_docs(make_key_client, api_client, operator_client):
    key_client, _ = make_key_client(scopes=["agents:read"])  # any scope will do
    for caller in (key_client, api_client, operator_client):
        schema = caller.get("/api/schema/?format=json")
        assert schema.status_code == 200
        assert "/api/v1/keys/" in schema.json()["paths"]
        docs = caller.get("/api/docs/")
        assert docs.status_code == 200 and b"swagger" in docs.content.lower()


def test_a_revoked_key_is_refused_at_the_schema(make_key_client):
    key_client, key = make_key_client(scopes=["agents:read"])
    assert key_client.get("/api/schema/").status_code == 200
    api_key_revoke(api_key=key)
    _error(key_client.get("/api/schema/"), 401, "not_authenticated")


def test_public_docs_setting_opens_schema_and_docs(client, settings):
    settings.AGENCY_PUBLIC_API_DOCS = True
    assert client.get("/api/schema/").status_code == 200
    assert client.get("/api/docs/").status_code == 200
