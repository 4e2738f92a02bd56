"""Tests: real PostgreSQL with pgvector and real Redis, in a throw-away data dir per session.

With DATABASE_URL / REDIS_URL set (CI against services, or a Celery worker spawned by the test
session) those are used instead. The conftest stops what this process started.
"""

import os
import tempfile

from apps.platform import embedded  # noqa: E402

if not os.environ.get("AGENCY_DATA_DIR"):
    embedded.reap_orphans("agency-test-")  # servers left by a killed earlier session
    _tmp = tempfile.mkdtemp(prefix="agency-test-")
    os.chmod(_tmp, 0o755)  # our own fresh dir: the unprivileged PostgreSQL user must reach into it
    with open(os.path.join(_tmp, embedded.OWNER_FILE), "w") as fh:
        fh.write(str(os.getpid()))
    os.environ["AGENCY_DATA_DIR"] = _tmp
    os.environ["AGENCY_TEST_DATA_DIR_OWNED"] = _tmp

os.environ.setdefault("AGENCY_EMBEDDED_EPHEMERAL", "true")  # fsync off: the dir is thrown away

from .base import *  # noqa: E402, F403
from .base import env  # noqa: E402

SECRET_KEY = "test-insecure-key"
DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
AGENCY_HEALTH_CELERY_TIMEOUT = env.float("AGENCY_HEALTH_CELERY_TIMEOUT", default=2.0)
