"""Request rates per API key and per tenant, per user, per anonymous address, counted in Redis: 429 with Retry-After.

The project's one throttle, on every DRF view (REST_FRAMEWORK's DEFAULT_THROTTLE_CLASSES; only
/health/ opts out, and /metrics is a plain Django view). DRF's `SimpleRateThrottle` keeps a list
of timestamps per caller in the cache and rewrites it on each request (a get and a set: two round
trips per throttle, racy between processes, and a 600-entry pickled list at 600/minute). Here each
limit is a fixed-window counter, and all the counters of a request are checked and counted by one
Lua script: one Redis round trip per request, atomic, exact across processes. A refused request
counts against nothing, so a key hammering past its own limit does not spend its tenant's budget
(the tenant's other keys are throttled only when the tenant's rate is used up). The known cost of
fixed windows: a caller may spend its budget at the end of one window and again at the start of
the next (at most twice the rate over one window's length).

Rates: the tenant's `request_rate`, else `AGENCY_API_RATE`, for the tenant's counter; each key
has a counter of its own when `AGENCY_API_KEY_RATE` is set (without it a key may use its tenant's
whole budget, and a counter of its own at that rate could never refuse first). Users (operators, DRF
tokens, sessions) are counted per user at `AGENCY_API_RATE`, whatever tenant an operator names.
Anonymous callers are counted per address at `AGENCY_API_RATE` (most views refuse them before the
throttle runs: DRF checks permissions first): REMOTE_ADDR, unless REST_FRAMEWORK's NUM_PROXIES is
set, when DRF's `get_ident` reads X-Forwarded-For (which any client can write otherwise).
When Redis is down the platform cache's circuit breaker answers nothing, and the request passes:
a Redis outage must not take the API down.
"""

from __future__ import annotations

import hashlib
import math
import time
from typing import Any

from django.conf import settings
from redis.exceptions import NoScriptError
from rest_framework import exceptions
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from apps.platform.cache import get_cache
from apps.tenants.principals import ApiKeyPrincipal
from apps.tenants.rates import rate_parse

KEY_PREFIX = "throttle:"

# KEYS: the counters; ARGV: limit, window of each. 0 if every counter had room (then each is
# counted, its expiry set when the window's key is new), else the 1-based position of the first full one.
_COUNT_LUA = """
for i = 1, #KEYS do
  if tonumber(redis.call('GET', KEYS[i]) or '0') >= tonumber(ARGV[2 * i - 1]) then return i end
end
for i = 1, #KEYS do
  if redis.call('INCR', KEYS[i]) == 1 then redis.call('EXPIRE', KEYS[i], ARGV[2 * i]) end
end
return 0
"""
_COUNT_SHA = hashlib.sha1(_COUNT_LUA.encode()).hexdigest()


def _limits(request: Any, throttle: BaseThrottle) -> list[tuple[str, str, str]]:
    """(counter name, rate, what to call it in the 429) for each limit this caller is under.

    A key's two counters share a Redis Cluster hash slot (`{t<tenant id>}`): one script touches both.
    """
    user = request.user
    default = settings.AGENCY_API_RATE
    if isinstance(user, ApiKeyPrincipal):
        slot = f"{{t{user.tenant_id}}}"
        tenant = (f"{slot}:tenant", user.request_rate or default, f"tenant {user.tenant_slug!r}")
        if not settings.AGENCY_API_KEY_RATE:
            return [tenant]  # a key's own counter at its tenant's rate could never refuse first
        return [(f"{slot}:key:{user.prefix}", settings.AGENCY_API_KEY_RATE, f"API key {user.prefix!r}"), tenant]
    if user is not None and user.is_authenticated:
        return [(f"user:{user.pk}", default, f"user {user.get_username()!r}")]
    ident = throttle.get_ident(request) if api_settings.NUM_PROXIES is not None else request.META.get("REMOTE_ADDR")
    return [(f"anon:{ident}", default, f"address {ident}")] if ident else []


class TenantRateThrottle(BaseThrottle):
    """Fixed-window counters per key and tenant, user or address; raises DRF's Throttled naming the limit."""

    def allow_request(self, request: Any, view: Any) -> bool:
        limits = _limits(request, self)
        if not limits:
            return True
        now = time.time()
        cache = get_cache()
        counters = []
        for name, rate, what in limits:
            limit, window = rate_parse(rate)
            start = int(now // window) * window
            counters.append((cache.make_key(f"{KEY_PREFIX}{name}:{window}:{start}"), limit, window, start, rate,
                             what))
        keys = [c[0] for c in counters]
        args = [v for c in counters for v in (c[1], c[2] + 1)]

        def count(r: Any) -> int:
            try:
                return r.evalsha(_COUNT_SHA, len(keys), *keys, *args)
            except NoScriptError:  # first use on this server (or after SCRIPT FLUSH / a restart)
                return r.eval(_COUNT_LUA, len(keys), *keys, *args)

        full = cache.call("throttle", count, default=None)
        if not full:
            return True  # 0: counted; None: Redis unavailable, fail open (logged by the cache's guard)
        _key, _limit, window, start, rate, what = counters[int(full) - 1]
        wait = max(1, math.ceil(start + window - now))
        raise exceptions.Throttled(wait=wait, detail=f"Request rate of {what} ({rate}) exceeded.")

    def wait(self) -> float | None:
        return None  # allow_request raises Throttled itself, with the wait of the limit that was hit
