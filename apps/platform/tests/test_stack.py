"""The request stack's shortcuts: token API calls pass the browser middlewares, content
negotiation answers the everyday cases itself, prometheus series are looked up once; every
other request keeps Django's and DRF's full behaviour."""

import pytest
from django.test import Client
from prometheus_client import REGISTRY
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_token_api_call_skips_session_csrf_and_frame_headers(api_client):
    response = api_client.get("/api/v1/me/")
    assert response.status_code == 200
    assert "X-Frame-Options" not in response.headers
    assert not response.cookies  # no session, no CSRF cookie
    assert response.wsgi_request._agency_token_api is True


def test_browser_pages_keep_the_browser_middlewares(client):
    login = client.get("/admin/login/")
    assert login.status_code == 200
    assert login.headers["X-Frame-Options"] == "DENY"
    assert "csrftoken" in login.cookies
    assert login.wsgi_request._agency_token_api is False
    # A token header outside /api/ changes nothing: only API calls take the shortcut.
    with_token = client.get("/admin/login/", HTTP_AUTHORIZATION="Token abc")
    assert with_token.headers["X-Frame-Options"] == "DENY"
    assert with_token.wsgi_request._agency_token_api is False


def test_csrf_still_guards_admin_forms(operator):
    browser = Client(enforce_csrf_checks=True)
    refused = browser.post("/admin/login/", {"username": "operator", "password": "pw-operator-123"})
    assert refused.status_code == 403
    token = browser.get("/admin/login/").cookies["csrftoken"].value
    accepted = browser.post("/admin/login/?next=/admin/", {"username": "operator", "password": "pw-operator-123",
                                                           "csrfmiddlewaretoken": token})
    assert accepted.status_code == 302
    assert browser.get("/admin/").status_code == 200


def test_a_session_api_call_still_needs_its_csrf_token(operator):
    browser = APIClient(enforce_csrf_checks=True)
    browser.force_login(operator)
    assert browser.get("/api/v1/me/").json()["username"] == "operator"  # session auth works
    refused = browser.post("/api/v1/agents/", {"name": "no-csrf"}, format="json")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["error"]["message"]


def test_a_wrong_token_is_401_and_no_session_takes_over(client, operator):
    client.force_login(operator)  # a valid session cookie rides along
    response = client.get("/api/v1/me/", HTTP_AUTHORIZATION="Token not-a-token")
    assert response.status_code == 401


def test_prometheus_series_still_count_token_api_calls(api_client):
    view = "me"
    before = (_sample("django_http_requests_total_by_method_total", method="GET"),
              _sample("django_http_responses_total_by_status_view_method_total", status="200", view=view, method="GET"),
              _sample("django_http_requests_latency_seconds_by_view_method_count", view=view, method="GET"),
              _sample("django_http_requests_body_total_bytes_count"))
    for _ in range(3):
        assert api_client.get("/api/v1/me/").status_code == 200
    after = (_sample("django_http_requests_total_by_method_total", method="GET"),
             _sample("django_http_responses_total_by_status_view_method_total", status="200", view=view, method="GET"),
             _sample("django_http_requests_latency_seconds_by_view_method_count", view=view, method="GET"),
             _sample("django_http_requests_body_total_bytes_count"))
    assert [a - b for a, b in zip(after, before, strict=True)] == [3, 3, 3, 3]


@pytest.mark.parametrize(("accept", "query", "media_type"), [
    (None, "", "application/json"),
    ("*/*", "", "application/json"),
    ("application/json", "", "application/json"),
    ("application/json; indent=4", "", "application/json"),
    ("text/html", "", "text/html"),
    ("text/html,application/xhtml+xml,*/*;q=0.8", "", "text/html"),
    ("*/*", "?format=api", "text/html"),
    ("*/*", "?format=json", "application/json"),
])
def test_negotiation_gives_drfs_answers(api_client, accept, query, media_type):
    extra = {"HTTP_ACCEPT": accept} if accept else {}
    response = api_client.get(f"/api/v1/me/{query}", **extra)
    assert response.status_code == 200
    assert response.headers["Content-Type"].split(";")[0] == media_type


def test_an_unservable_accept_is_406(api_client):
    response = api_client.get("/api/v1/me/", HTTP_ACCEPT="application/xml")
    assert response.status_code == 406


def test_json_bodies_parse_with_or_without_a_charset(api_client):
    for content_type in ("application/json", "application/json; charset=utf-8"):
        response = api_client.post("/api/v1/agents/", data=b'{"name": "a-%d", "type": "t"}' % len(content_type),
                                   content_type=content_type)
        assert response.status_code == 201, response.content
    form = api_client.post("/api/v1/agents/", {"name": "a-form", "type": "t"})  # multipart, DRF's own choice
    assert form.status_code == 201, form.content
