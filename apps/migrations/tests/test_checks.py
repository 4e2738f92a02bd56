"""Settings renamed in issue #12 keep working under their old names, with a warning from `manage.py check`."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.conf import settings

from apps.migrations.checks import deprecated_env_check
from apps.migrations.services import postgres


def _lock_ttl(**env: str) -> int:
    """AGENCY_SCHEMA_LOCK_TTL as a fresh process reads it from `env`."""
    base = {k: v for k, v in os.environ.items() if k not in ("AGENCY_OPS_LOCK_TTL", "AGENCY_SCHEMA_LOCK_TTL")}
    proc = subprocess.run(
        [sys.executable, "-c", "from django.conf import settings; print(settings.AGENCY_SCHEMA_LOCK_TTL)"],
        env={**base, "DJANGO_SETTINGS_MODULE": "agency.settings.test", "DATABASE_URL": postgres.ConnInfo.current().url(),
             **env},
        cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=120, check=True)
    return int(proc.stdout.strip().splitlines()[-1])


@pytest.mark.django_db
def test_the_lock_ttl_falls_back_to_its_old_name():
    assert _lock_ttl() == 60
    assert _lock_ttl(AGENCY_OPS_LOCK_TTL="7") == 7
    assert _lock_ttl(AGENCY_OPS_LOCK_TTL="7", AGENCY_SCHEMA_LOCK_TTL="9") == 9


def test_check_warns_about_a_deprecated_variable(monkeypatch):
    monkeypatch.delenv("AGENCY_OPS_LOCK_TTL", raising=False)
    assert deprecated_env_check() == []
    monkeypatch.setenv("AGENCY_OPS_LOCK_TTL", "7")
    [warning] = deprecated_env_check()
    assert warning.id == "schema.W001" and "rename it to AGENCY_SCHEMA_LOCK_TTL" in warning.msg
