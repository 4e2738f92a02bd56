"""Run by test_coherence in a separate process: read one key in a tight loop, report each change.

argv: mode ("key" or "row"), key or rule id, the final value to wait for. Prints JSON lines: a
"ready" line once its invalidation subscriber is confirmed and the first value is in its L1, one
line per value change with the time it was first served, and a summary of its counters.
"""

import json
import os
import sys
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agency.settings.test")
import django  # noqa: E402

django.setup()

from apps.cache.models import WarmingRule  # noqa: E402
from apps.platform.cache import cache_get, get_cache, instance_get  # noqa: E402

mode, target, final = sys.argv[1], sys.argv[2], sys.argv[3]
c = get_cache()
if not c.wait_subscribed(timeout=30):  # before the first read: L1 is only used while subscribed
    print(json.dumps({"error": "the invalidation subscriber did not connect in 30 s"}), flush=True)
    sys.exit(1)


def read():
    if mode == "key":
        return cache_get(target)
    return str(instance_get(WarmingRule, target).ttl)


last = read()
print(json.dumps({"ready": True, "value": last}), flush=True)
deadline = time.time() + 120
while time.time() < deadline:
    value = read()
    if value != last:
        print(json.dumps({"value": value, "t": time.time()}), flush=True)
        last = value
        if value == final:
            break
print(json.dumps({"l1_hits": c.local.hits, "l2_hits": c.l2_hits, "deliveries": c.deliveries}), flush=True)
