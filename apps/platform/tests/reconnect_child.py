"""Run by test_restarts in another process: a Django process that outlives restarts of its servers.

For every line on stdin it does what a request does (request_started, which closes connections
that fail CONN_HEALTH_CHECKS), one query and one Redis round trip, request_finished, and prints one
JSON line: the PostgreSQL server's port and the Redis value it read back, or the error it got.
"""

import json
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agency.settings.test")
import django  # noqa: E402

django.setup()

from django.core.signals import request_finished, request_started  # noqa: E402
from django.db import connection  # noqa: E402
from django_redis import get_redis_connection  # noqa: E402

print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    request_started.send(sender=None)
    try:
        with connection.cursor() as cur:
            cur.execute("SELECT current_setting('port')")
            port = int(cur.fetchone()[0])
        redis = get_redis_connection("default")
        redis.set("reconnect-child", line.strip())
        out = {"pg_port": port, "redis": redis.get("reconnect-child").decode()}
    except Exception as exc:  # noqa: BLE001  (the test reads what failed)
        out = {"error": f"{type(exc).__name__}: {exc}"}
    finally:
        request_finished.send(sender=None)
    print(json.dumps(out), flush=True)
