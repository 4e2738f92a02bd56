"""Outages answer the one JSON error body, 503 with Retry-After, never an HTML 500; and the API recovers.

Real outages: the session's own Redis is stopped and started again (on its recorded port); the
database connection is terminated by PostgreSQL, or pointed at a port nobody listens on.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import psycopg
import pytest
from django.db import connection
from django.test import override_settings
from django.urls import path
from django_redis import get_redis_connection

from agency import urls as agency_urls
from apps.agents.tests.factories import AgentFactory
from apps.platform import embedded
from apps.platform.http.errors import RETRY_AFTER_SECONDS


def _assert_unavailable(response) -> None:
    assert response.status_code == 503, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    assert response["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert response.json()["error"]["code"] == "unavailable"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again on return: nothing listens there


@pytest.fixture
def session_redis_dir() -> Path:
    data_dir = Path(os.environ["AGENCY_DATA_DIR"])
    if embedded.find_redis(data_dir) is None:
        pytest.skip("REDIS_URL was given to the session: it has no embedded Redis to stop")
    return data_dir


@pytest.mark.django_db
def test_a_stopped_redis_answers_json_503_on_the_paths_that_need_it_and_they_recover(
        session_redis_dir, tenant_a):
    agent = AgentFactory(tenant=tenant_a.tenant)
    url = f"/api/v1/agents/{agent.id}/session/"
    assert tenant_a.client.put(url, {"data": {"step": 1}}, format="json").status_code == 200
    port = embedded.find_redis(session_redis_dir).port
    assert embedded.stop_redis(session_redis_dir)
    try:
        _assert_unavailable(tenant_a.client.get(url))  # the session store needs Redis
        listed = tenant_a.client.get("/api/v1/agents/")  # needs only PostgreSQL: cache and throttle fail open
        assert listed.status_code == 200 and listed.json()["results"][0]["id"] == str(agent.id)
    finally:
        assert embedded.ensure_redis(session_redis_dir).port == port
    got = tenant_a.client.get(url)  # the same process, the same connection pool: reconnected
    assert got.status_code == 200 and got.json()["data"] == {"step": 1}  # kept: the AOF replayed it
    assert get_redis_connection("default").ping()


def _terminate_own_backend() -> None:
    """pg_terminate_backend of this test's connection, from another connection of the same role."""
    s = connection.settings_dict
    pid = connection.connection.info.backend_pid
    with psycopg.connect(host=s["HOST"], port=s["PORT"], user=s["USER"], password=s["PASSWORD"] or None,
                         dbname=s["NAME"], autocommit=True) as other:
        assert other.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone() == (True,)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("outage", ["terminated", "refused"])
def test_a_database_outage_answers_json_503_not_html(outage, tenant_a):
    assert tenant_a.client.get("/api/v1/agents/").status_code == 200
    tenant_a.client.raise_request_exception = False  # as a real server: what escapes goes to handler500
    saved = connection.settings_dict["PORT"]
    connection.ensure_connection()
    try:
        if outage == "terminated":
            _terminate_own_backend()
        else:
            connection.close()
            connection.settings_dict["PORT"] = _closed_port()
        _assert_unavailable(tenant_a.client.get("/api/v1/agents/"))
        _assert_unavailable(tenant_a.client.post("/api/v1/agents/", {"name": "x"}, format="json"))
    finally:
        connection.close()
        connection.settings_dict["PORT"] = saved
    back = tenant_a.client.get("/api/v1/agents/")  # back without a restart, and the refused POST wrote nothing
    assert back.status_code == 200 and [a["name"] for a in back.json()["results"]] == []


def _boom(request):
    raise RuntimeError("a bug")


def _db_gone(request):
    raise psycopg.OperationalError("server closed the connection unexpectedly")


# The project's handler500 (agency/urls.py) over views that fail outside DRF, as middleware can.
urlpatterns = [path("api/v1/boom/", _boom), path("api/v1/db-gone/", _db_gone), path("elsewhere/boom/", _boom)]
handler500 = agency_urls.handler500


@override_settings(ROOT_URLCONF=__name__)
def test_what_escapes_drf_answers_the_error_body_on_api_paths_and_django_s_page_elsewhere(client):
    client.raise_request_exception = False
    response = client.get("/api/v1/boom/")
    assert response.status_code == 500 and response["Content-Type"].startswith("application/json")
    assert response.json() == {"error": {"code": "server_error", "message": "internal server error",
                                         "details": None}}
    _assert_unavailable(client.get("/api/v1/db-gone/"))
    other = client.get("/elsewhere/boom/")
    assert other.status_code == 500 and other["Content-Type"].startswith("text/html")
