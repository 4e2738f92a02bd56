"""Fixtures shared by every app's tests: API clients (token users, operators, API keys of tenants),
the migrated `default` tenant kept in place, and a real Celery worker on the real broker.

The session's throw-away PostgreSQL (with pgvector) and Redis are started before the settings are
read, and stopped when the session ends, by the plugin `apps.platform.testing` (pytest.ini).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

ROOT = Path(__file__).resolve().parent


def pytest_unconfigure(config: pytest.Config) -> None:
    from apps.platform.cache import reset_caches

    reset_caches()  # end the invalidation subscriber before the plugin stops its Redis (trylast)


@pytest.fixture(scope="session")
def _default_tenant_values(django_db_setup, django_db_blocker) -> dict[str, Any]:
    """The `default` tenant as migration tenants.0002 made it (read once per session)."""
    from apps.tenants.models import Tenant

    with django_db_blocker.unblock():
        return Tenant.objects.filter(slug="default").values().get()


@pytest.fixture(autouse=True)
def _default_tenant(request: pytest.FixtureRequest) -> None:
    """Put the migrated `default` tenant back, with its id, when a transactional test's flush removed it.

    Legacy DRF-token users act for `default` (apps.tenants.selectors), factories put rows there, and
    processes remember its id; a flush (the end of every `transaction=True` test) empties the
    tenants table, which would leave every later test without it. Tests without the database are
    left alone, and the row comes back through bulk_create, so it leaves no audit entry behind.
    """
    if request.node.get_closest_marker("django_db") is None and not (
            {"db", "transactional_db"} & set(request.fixturenames)):
        return
    request.getfixturevalue("_django_db_helper")
    values = request.getfixturevalue("_default_tenant_values")
    from apps.tenants.models import Tenant

    if not Tenant.objects.filter(pk=values["id"]).exists():
        Tenant.objects.bulk_create([Tenant(**values)])  # no signals: no audit entry a test could count


@pytest.fixture
def make_key_client(db) -> Callable[..., tuple[APIClient, Any]]:
    """`client, key = make_key_client(scopes=[...], tenant=...)`: an API client holding a real API key."""
    from apps.tenants.tests.factories import ApiKeyFactory

    def make(**kwargs: Any) -> tuple[APIClient, Any]:
        api_key = ApiKeyFactory(**kwargs)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key.raw}")
        return client, api_key
    return make


DATA_SCOPES = ["agents:read", "agents:write", "tasks:read", "tasks:write", "tasks:work", "memory:read",
               "memory:write"]


@dataclass
class TenantCaller:
    """A tenant and an API client holding one of its keys (every data scope unless told otherwise)."""

    tenant: Any
    client: APIClient
    key: Any


@pytest.fixture
def make_tenant_caller(make_key_client) -> Callable[..., TenantCaller]:
    """`make_tenant_caller(slug="tenant-a", scopes=[...])`: a new tenant (or a new key of `tenant=`)."""
    from apps.tenants.tests.factories import TenantFactory

    def make(slug: str | None = None, *, tenant: Any = None, scopes: list[str] | None = None) -> TenantCaller:
        tenant = tenant or (TenantFactory(slug=slug) if slug else TenantFactory())
        client, key = make_key_client(tenant=tenant, scopes=scopes or DATA_SCOPES)
        return TenantCaller(tenant=tenant, client=client, key=key)
    return make


@pytest.fixture
def tenant_a(make_tenant_caller) -> TenantCaller:
    return make_tenant_caller("tenant-a")


@pytest.fixture
def tenant_b(make_tenant_caller) -> TenantCaller:
    return make_tenant_caller("tenant-b")


@pytest.fixture
def table_snapshot(db) -> Callable[[str, int], list[str]]:
    """`table_snapshot("agents_agent", tenant_id)`: a tenant's rows as PostgreSQL's text of each whole row.

    Compared before and after a refused request, it proves the rows are byte-for-byte unchanged
    (every column, including `version` and `updated_at`), not just the fields a test thought of.
    """
    from django.db import connection

    def snapshot(table: str, tenant_id: int) -> list[str]:
        with connection.cursor() as cur:
            cur.execute(f"SELECT t::text FROM {table} t WHERE tenant_id = %s ORDER BY id", [tenant_id])  # noqa: S608
            return [row[0] for row in cur.fetchall()]
    return snapshot


@pytest.fixture
def user(db, django_user_model):
    return django_user_model.objects.create_user(username="service", password="pw-service-123")


@pytest.fixture
def operator(db, django_user_model):
    """A staff user: operators may run maintenance, invalidate caches, start backups."""
    return django_user_model.objects.create_user(
        username="operator", password="pw-operator-123", is_staff=True, is_superuser=True
    )


def _client_for(user) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def api_client(user) -> APIClient:
    """An API client authenticated as a service (token auth)."""
    return _client_for(user)


@pytest.fixture
def operator_client(operator) -> APIClient:
    return _client_for(operator)


def _database_url() -> str:
    from django.db import connection

    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST']}:{s['PORT']}/{s['NAME']}"


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker) -> Iterator[subprocess.Popen]:
    """A real `celery worker` process on the real Redis broker, writing to the test database.

    Tests that use it must commit their data (`@pytest.mark.django_db(transaction=True)`), since
    the worker sees the database from another connection.
    """
    from agency.celery import app

    with django_db_blocker.unblock():
        db_url = _database_url()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "agency.settings.test",
        "DATABASE_URL": db_url,
    }
    log = open(Path(os.environ["AGENCY_DATA_DIR"]) / "celery-worker.log", "ab")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "agency", "worker", "-Q", "default,maintenance",
         "--concurrency", "2", "--hostname", f"test-{os.getpid()}@%h", "--loglevel", "INFO",
         "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while not app.control.ping(timeout=0.5):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"the Celery worker did not start; see {log.name}")
    yield proc
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()
