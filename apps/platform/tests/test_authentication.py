"""PreparedTokenAuthentication: one prepared statement per request, no ORM query, and revocation or
deactivation holds on the very next request, also when the row was changed by `QuerySet.update()`,
`QuerySet.delete()` or raw SQL (which no signal sees)."""

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient, APIRequestFactory

from apps.platform.http.authentication import PreparedTokenAuthentication, token_user_lookup

pytestmark = pytest.mark.django_db


def _client(token: Token) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def token(user) -> Token:
    return Token.objects.create(user=user)


def _prepared_statements() -> list[str]:
    with connection.cursor() as cur:
        cur.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cur.fetchall()]


def test_a_request_makes_no_orm_query_and_the_lookup_runs_prepared(token):
    client = _client(token)
    assert client.get("/api/v1/me/").json() == {"username": "service", "is_staff": False}
    with CaptureQueriesContext(connection) as ctx:
        response = client.get("/api/v1/me/")
    assert response.status_code == 200 and response.json()["username"] == "service"
    assert len(ctx.captured_queries) == 0, [q["sql"] for q in ctx.captured_queries]
    assert any("authtoken_token" in s and "auth_user" in s for s in _prepared_statements())


def test_the_same_user_and_token_as_drf_stock_class(token, user):
    """Equivalence with the stock behaviour: every field of the user and the token alike, and saved state."""
    ours_user, ours_token = PreparedTokenAuthentication().authenticate_credentials(token.key)
    stock_user, stock_token = TokenAuthentication().authenticate_credentials(token.key)
    fields = [f.attname for f in get_user_model()._meta.concrete_fields]
    assert [getattr(ours_user, f) for f in fields] == [getattr(stock_user, f) for f in fields]
    assert (ours_token.key, ours_token.user_id, ours_token.created) == (
        stock_token.key, stock_token.user_id, stock_token.created)
    assert ours_user.check_password("pw-service-123")
    assert ours_user._state.adding is False and ours_user._state.db == "default"
    ours_user.first_name = "Renamed"
    ours_user.save(update_fields=["first_name"])  # a model instance like the ORM's: it saves
    assert get_user_model().objects.get(pk=user.pk).first_name == "Renamed"


def test_user_deactivated_by_queryset_update_is_refused_at_once(token, user):
    client = _client(token)
    assert client.get("/api/v1/me/").status_code == 200
    get_user_model().objects.filter(pk=user.pk).update(is_active=False)  # no signal
    response = client.get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "User inactive or deleted."


def test_token_deleted_by_queryset_delete_is_refused_at_once(token):
    client = _client(token)
    assert client.get("/api/v1/me/").status_code == 200
    Token.objects.filter(key=token.key).delete()
    response = client.get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Invalid token."


def test_token_deleted_by_raw_sql_is_refused_at_once(token):
    client = _client(token)
    assert client.get("/api/v1/me/").status_code == 200
    with connection.cursor() as cur:
        cur.execute("DELETE FROM authtoken_token WHERE key = %s", [token.key])
    assert client.get("/api/v1/me/").status_code == 401


def test_rights_changed_by_update_are_seen_at_once(token, user):
    client = _client(token)
    assert client.get("/api/v1/me/").json()["is_staff"] is False
    get_user_model().objects.filter(pk=user.pk).update(is_staff=True)
    assert client.get("/api/v1/me/").json()["is_staff"] is True
    get_user_model().objects.filter(pk=user.pk).update(is_staff=False)
    assert client.get("/api/v1/me/").json()["is_staff"] is False


def test_model_save_and_delete_are_seen_at_once_too(token, user):
    client = _client(token)
    assert client.get("/api/v1/me/").status_code == 200
    user.is_active = False
    user.save(update_fields=["is_active"])
    assert client.get("/api/v1/me/").status_code == 401
    user.is_active = True
    user.save(update_fields=["is_active"])
    assert client.get("/api/v1/me/").status_code == 200
    token.delete()
    assert client.get("/api/v1/me/").status_code == 401


def test_bad_tokens_get_the_project_error_body(token):
    for key in ("0" * 40, "x" * 41, "a\x00b"):
        assert token_user_lookup(key) is None
    response = _client(Token(key="0" * 40)).get("/api/v1/me/")
    assert response.status_code == 401
    body = response.json()
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["message"] == "Invalid token."


def test_a_nul_byte_in_the_header_is_a_401_not_a_500(token):
    request = APIRequestFactory().get("/api/v1/me/", HTTP_AUTHORIZATION="Token ab\x00cd")
    with pytest.raises(exceptions.AuthenticationFailed, match="Invalid token"):
        PreparedTokenAuthentication().authenticate(request)


def test_redis_down_does_not_matter(token, settings):
    caches = {**django_settings.CACHES}
    caches["default"] = {**caches["default"], "LOCATION": "redis://127.0.0.1:1/0"}
    settings.CACHES = caches  # nothing listens on port 1: every Redis call fails at once
    client = _client(token)
    for _ in range(2):
        response = client.get("/api/v1/me/")
        assert response.status_code == 200 and response.json()["username"] == "service"
    assert _client(Token(key="1" * 40)).get("/api/v1/me/").status_code == 401


def test_without_prepared_statements_it_still_authenticates(token, settings):
    settings.AGENCY_DB_PREPARED_STATEMENTS = False
    assert _client(token).get("/api/v1/me/").status_code == 200
    Token.objects.filter(key=token.key).delete()
    assert _client(token).get("/api/v1/me/").status_code == 401
