"""Run by test_cache_backend_coherence in another process: read one key through
``django.core.cache.cache`` in a tight loop and report every change of what it serves.

argv: the key. Prints JSON lines: "ready" once its invalidation subscriber is confirmed and the
first value is in its L1, then ``{"value": repr, "t": time}`` per change, until it reads the
string "stop"; then its counters.
"""

import json
import os
import sys
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agency.settings.test")
import django  # noqa: E402

django.setup()

from django.core.cache import cache  # noqa: E402

key = sys.argv[1]
engine = cache.engine
if not engine.wait_subscribed(timeout=30):
    print(json.dumps({"error": "the invalidation subscriber did not connect in 30 s"}), flush=True)
    sys.exit(1)
last = repr(cache.get(key))
print(json.dumps({"ready": True, "value": last}), flush=True)
deadline = time.time() + 120
while time.time() < deadline:
    value = repr(cache.get(key))
    if value != last:
        print(json.dumps({"value": value, "t": time.time()}), flush=True)
        last = value
        if value == repr("stop"):
            break
print(json.dumps({"l1_hits": engine.local.hits, "deliveries": engine.deliveries}), flush=True)
