"""Reachability of the components the platform needs, for /health/ and for operators."""

from __future__ import annotations

import time
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import connection
from django_redis import get_redis_connection


def _timed(check) -> dict[str, Any]:
    start = time.perf_counter()
    try:
        result = {"ok": True, **check()}
    except Exception as exc:  # any failure of a component is a health result, not a 500
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    result["latency_ms"] = round((time.perf_counter() - start) * 1000, 2)
    return result


def _postgres() -> dict[str, Any]:
    with connection.cursor() as cur:
        cur.execute(
            "SELECT current_setting('server_version'),"
            " (SELECT extversion FROM pg_extension WHERE extname = 'vector')"
        )
        server, vector = cur.fetchone()
    if vector is None:
        raise RuntimeError("the pgvector extension is not installed in this database")
    return {"server_version": server, "pgvector_version": vector}


def _redis() -> dict[str, Any]:
    conn = get_redis_connection("default")
    conn.ping()
    return {"server_version": conn.info("server").get("redis_version")}


def _celery() -> dict[str, Any]:
    # The project's app (agency/celery.py) is the current one in every process that loaded the settings.
    # limit=1: one answering worker proves the broker path; don't wait out the timeout for more.
    replies = current_app.control.ping(timeout=settings.AGENCY_HEALTH_CELERY_TIMEOUT, limit=1)
    if not replies:
        raise RuntimeError("no Celery worker answered the ping")
    return {"workers": sorted(name for reply in replies for name in reply)}


CHECKS = {"postgres": _postgres, "redis": _redis, "celery": _celery}


def health_report() -> dict[str, Any]:
    """Every component's state; `status` is `ok`, `degraded` (an optional one is down) or `down`."""
    components = {name: _timed(check) for name, check in CHECKS.items()}
    for name, result in components.items():
        result["required"] = name in settings.AGENCY_HEALTH_REQUIRED
    if any(not c["ok"] and c["required"] for c in components.values()):
        overall = "down"
    elif all(c["ok"] for c in components.values()):
        overall = "ok"
    else:
        overall = "degraded"
    return {"status": overall, "components": components}


def health_summary(report: dict[str, Any]) -> dict[str, Any]:
    """What anybody may see of `report`: the overall status and whether each component is up.

    Server versions, latencies, worker host names and error texts help an attacker pick an exploit
    and map the deployment; they are for operators (apps/console/permissions.py).
    """
    return {"status": report["status"],
            "components": {name: {"ok": c["ok"]} for name, c in report["components"].items()}}
