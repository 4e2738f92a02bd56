"""Fixtures shared by every app's tests: API clients, and a real Celery worker on the real broker.

The session's throw-away PostgreSQL (with pgvector) and Redis are started before the settings are
read, and stopped when the session ends, by the plugin `apps.platform.testing` (pytest.ini).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

ROOT = Path(__file__).resolve().parent


def pytest_unconfigure(config: pytest.Config) -> None:
    from apps.platform.cache import reset_caches

    reset_caches()  # end the invalidation subscriber before the plugin stops its Redis (trylast)


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
