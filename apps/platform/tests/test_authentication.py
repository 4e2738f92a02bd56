"""CachedTokenAuthentication: the token lookup leaves the DB after the first request, yet a
deleted token or a deactivated user is refused on the very next request, and Redis being down
only costs the query again."""

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from apps.platform.cache import cache_get
from apps.platform.http.authentication import token_cache_key

pytestmark = pytest.mark.django_db


def _client(token: Token) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def token(user) -> Token:
    return Token.objects.create(user=user)


def test_second_request_makes_no_query(token):
    client = _client(token)
    assert client.get("/api/v1/me/").json() == {"username": "service", "is_staff": False}
    with CaptureQueriesContext(connection) as ctx:
        response = client.get("/api/v1/me/")
    assert response.status_code == 200
    assert response.json()["username"] == "service"
    assert len(ctx.captured_queries) == 0, [q["sql"] for q in ctx.captured_queries]


def test_cache_key_is_a_digest_not_the_secret(token):
    _client(token).get("/api/v1/me/")
    key = token_cache_key(token.key)
    assert token.key not in key and len(key.encode()) <= 1024
    assert cache_get(key).user.pk == token.user.pk


def test_deleted_token_is_refused_at_once(token, django_capture_on_commit_callbacks):
    client = _client(token)
    assert client.get("/api/v1/me/").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        token.delete()
    response = client.get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Invalid token."


def test_deactivated_user_is_refused_at_once(token, user, django_capture_on_commit_callbacks):
    client = _client(token)
    assert client.get("/api/v1/me/").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        user.is_active = False
        user.save(update_fields=["is_active"])
    response = client.get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "User inactive or deleted."


def test_user_change_is_seen_at_once(token, user, django_capture_on_commit_callbacks):
    """Rights come from the cached user too: making it staff must not wait for the TTL."""
    client = _client(token)
    assert client.get("/api/v1/me/").json()["is_staff"] is False
    with django_capture_on_commit_callbacks(execute=True):
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    assert client.get("/api/v1/me/").json()["is_staff"] is True


def test_bad_token_gets_the_project_error_body(token):
    response = _client(Token(key="0" * 40)).get("/api/v1/me/")
    assert response.status_code == 401
    body = response.json()
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["message"] == "Invalid token."
    assert cache_get(token_cache_key("0" * 40)) is None  # failures are not cached


def test_redis_down_still_authenticates_through_the_db(token, settings):
    caches = {**django_settings.CACHES}
    caches["default"] = {**caches["default"], "LOCATION": "redis://127.0.0.1:1/0"}
    settings.CACHES = caches  # nothing listens on port 1: every Redis call fails at once
    client = _client(token)
    for _ in range(2):
        with CaptureQueriesContext(connection) as ctx:
            response = client.get("/api/v1/me/")
        assert response.status_code == 200
        assert response.json()["username"] == "service"
        assert any("authtoken_token" in q["sql"] for q in ctx.captured_queries)
    with CaptureQueriesContext(connection):
        assert _client(Token(key="1" * 40)).get("/api/v1/me/").status_code == 401


def test_zero_seconds_turns_the_cache_off(token, settings):
    settings.AGENCY_AUTH_TOKEN_CACHE_SECONDS = 0
    client = _client(token)
    for _ in range(2):
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/api/v1/me/").status_code == 200
        assert any("authtoken_token" in q["sql"] for q in ctx.captured_queries)
    assert cache_get(token_cache_key(token.key)) is None


def test_cached_entry_holds_no_password_hash_and_a_stray_save_cannot_blank_it(token, user):
    from django.db import IntegrityError, transaction

    assert _client(token).get("/api/v1/me/").status_code == 200
    cached = cache_get(token_cache_key(token.key))
    assert cached.user.pk == user.pk and cached.user.password is None
    with pytest.raises(IntegrityError), transaction.atomic():
        cached.user.save()
    user.refresh_from_db()
    assert user.check_password("pw-service-123")
