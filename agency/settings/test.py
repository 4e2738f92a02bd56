"""Tests: real PostgreSQL with pgvector and real Redis, in a throw-away data dir per session.

These settings only describe, like the others: the pytest plugin `apps.platform.testing` (loaded
by pytest.ini before pytest-django reads the settings) makes the session's data dir, starts its
servers and exports DATABASE_URL / REDIS_URL, so the Celery worker and the other processes the
tests spawn reuse them; it stops what it started when the session ends. With DATABASE_URL /
REDIS_URL already set (CI against services) those are used and nothing is started.
"""

import os

os.environ.setdefault("AGENCY_EMBEDDED_EPHEMERAL", "true")  # fsync off: the dir is thrown away

from .base import *  # noqa: E402, F403
from .environment import env  # noqa: E402

SECRET_KEY = "test-insecure-key"
DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
AGENCY_HEALTH_CELERY_TIMEOUT = env.float("AGENCY_HEALTH_CELERY_TIMEOUT", default=2.0)
# Every view is throttled (tenants, users, anonymous by address: the suite is all 127.0.0.1); the
# suite must never hit it by accident. Throttle tests set small rates themselves.
AGENCY_API_RATE = "100000000/minute"
