"""The walking skeleton: real PostgreSQL with pgvector, real Redis, API conventions, health, metrics."""

import pytest
from django.db import connection
from django.test import override_settings

pytestmark = pytest.mark.django_db


def test_vector_and_trigram_extensions_are_installed():
    with connection.cursor() as cur:
        cur.execute("SELECT extname FROM pg_extension")
        names = {row[0] for row in cur.fetchall()}
        cur.execute("SELECT '[1,2,3]'::vector <-> '[1,2,4]'::vector")
        distance = cur.fetchone()[0]
    assert {"vector", "pg_trgm", "btree_gist"} <= names
    assert distance == pytest.approx(1.0)


def test_cache_is_real_redis():
    from django.core.cache import cache
    from django_redis import get_redis_connection

    cache.set("foundation:probe", {"a": 1}, 30)
    assert cache.get("foundation:probe") == {"a": 1}
    assert get_redis_connection("default").ttl(cache.make_key("foundation:probe")) > 0


def test_api_requires_authentication_and_uses_the_error_body(client):
    response = client.get("/api/v1/me/")
    assert response.status_code in (401, 403)
    body = response.json()
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] in ("not_authenticated", "permission_denied")


def test_token_authenticates_a_service(api_client):
    response = api_client.get("/api/v1/me/")
    assert response.status_code == 200
    assert response.json()["username"] == "service"


def test_api_root_lists_every_app_and_format_suffix_twins_are_gone(api_client):
    r = api_client.get("/api/v1/")
    assert r.status_code == 200
    for resource in ("agents", "tasks", "collections", "cache/warming-rules", "backups", "audit/changes"):
        assert r.json()[resource].endswith(f"/api/v1/{resource}/"), resource
    assert api_client.get("/api/v1/agents.json").status_code == 404


def test_unknown_api_path_is_404(api_client):
    assert api_client.get("/api/v1/does-not-exist/").status_code == 404


def test_openapi_schema_and_docs_are_served_to_callers_with_a_credential(api_client, client, operator):
    schema = api_client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"openapi" in schema.content
    client.force_login(operator)  # the docs page loads the schema with the browser's session
    assert client.get("/api/docs/").status_code == 200
    assert client.get("/api/schema/").status_code == 200


def test_metrics_endpoint_exports_django_metrics(operator_client):
    response = operator_client.get("/metrics")
    assert response.status_code == 200
    assert b"django_http_requests_total_by_method" in response.content or b"django_" in response.content


def test_health_is_503_when_redis_is_unreachable(client, settings):
    caches = {**settings.CACHES}
    caches["default"] = {**caches["default"], "LOCATION": "redis://127.0.0.1:1/0"}
    with override_settings(CACHES=caches):
        response = client.get("/health/")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "down"
    assert body["components"]["redis"]["ok"] is False
    assert body["components"]["postgres"]["ok"] is True


@pytest.mark.django_db(transaction=True)
def test_health_is_200_with_postgres_redis_and_a_worker_up(operator_client, celery_worker):
    response = operator_client.get("/health/")  # versions and workers: for operators only
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert body["components"]["postgres"]["pgvector_version"].startswith("0.8")
    assert body["components"]["celery"]["workers"]


def test_admin_login_page_is_served(client):
    assert client.get("/admin/login/").status_code == 200


def test_admin_index_shows_the_platform_dashboard(client, operator):
    client.force_login(operator)
    response = client.get("/admin/")
    assert response.status_code == 200
    assert b"agency-dashboard" in response.content
    assert b"Platform status" in response.content


def test_the_wsgi_application_loads_its_views_and_freezes_the_startup_heap():
    """What gunicorn serves: URLconf imported at startup, and that heap out of the collector's walks."""
    import gc
    import io
    import sys

    from agency.wsgi import application

    assert "apps.embeddings.views" in sys.modules and gc.get_freeze_count() > 1000
    status = []
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/api/v1/me/", "SERVER_NAME": "localhost",
               "SERVER_PORT": "80", "wsgi.input": io.BytesIO(), "wsgi.url_scheme": "http", "HTTP_HOST": "localhost"}
    response = application(environ, lambda s, headers, exc_info=None: status.append(s))
    response.close()
    assert status[0].startswith("401")


def test_a_body_over_the_request_limit_is_413_before_it_is_read(api_client, settings):
    """DRF reads the stream, which Django's own DATA_UPLOAD_MAX_MEMORY_SIZE check never sees."""
    import json

    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = json.dumps({"name": "x" * 2000, "dimension": 8})
    r = api_client.generic("POST", "/api/v1/collections/", body, content_type="application/json")
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "request_too_large" and "at most 1000 bytes" in r.json()["error"]["message"]
    small = api_client.generic("POST", "/api/v1/collections/", json.dumps({"name": "ok", "dimension": 8}),
                               content_type="application/json")
    assert small.status_code == 201
