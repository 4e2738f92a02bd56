"""Request rates per API key and per tenant (or per user), counted in Redis: 429 with Retry-After.

DRF's `SimpleRateThrottle` keeps a list of timestamps per caller in the cache and rewrites it on
each request (a get and a set: two round trips per throttle, racy between processes, and a
600-entry pickled list at 600/minute). Here each limit is a fixed-window counter: `INCR` the
window's key and `EXPIRE` it, for the key and the tenant in one pipeline — one Redis round trip
per request, atomic per counter, exact across processes. The known cost of fixed windows: a
caller may spend its budget at the end of one window and again at the start of the next (at most
twice the rate over one window's length).

Rates: the tenant's `request_rate`, else `AGENCY_API_RATE`, for the tenant's counter; a key's
counter uses `AGENCY_API_KEY_RATE` when set, else the tenant's rate. Users (operators, DRF
tokens) are counted per user at `AGENCY_API_RATE`. Anonymous requests are not counted here.
When Redis is down the platform cache's circuit breaker answers nothing, and the request passes:
a Redis outage must not take the API down.
"""

from __future__ import annotations

import math
import time
from typing import Any

from django.conf import settings
from rest_framework import exceptions
from rest_framework.throttling import BaseThrottle

from apps.platform.cache import get_cache
from apps.tenants.principals import ApiKeyPrincipal
from apps.tenants.rates import rate_parse

KEY_PREFIX = "throttle:"


def _limits(user: Any) -> list[tuple[str, str, str]]:
    """(counter name, rate, what to call it in the 429) for each limit this caller is under."""
    default = settings.AGENCY_API_RATE
    if isinstance(user, ApiKeyPrincipal):
        tenant_rate = user.request_rate or default
        return [
            (f"key:{user.prefix}", settings.AGENCY_API_KEY_RATE or tenant_rate, f"API key {user.prefix!r}"),
            (f"tenant:{user.tenant_id}", tenant_rate, f"tenant {user.tenant_slug!r}"),
        ]
    return [(f"user:{user.pk}", default, f"user {user.get_username()!r}")]


class TenantRateThrottle(BaseThrottle):
    """Fixed-window counters per key and tenant (or user); raises DRF's Throttled naming the limit."""

    def allow_request(self, request: Any, view: Any) -> bool:
        user = request.user
        if user is None or not user.is_authenticated:
            return True
        now = time.time()
        cache = get_cache()
        counters = []
        for name, rate, what in _limits(user):
            limit, window = rate_parse(rate)
            start = int(now // window) * window
            counters.append((cache.make_key(f"{KEY_PREFIX}{name}:{window}:{start}"), limit, window, start, rate,
                             what))

        def count(r: Any) -> list[Any]:
            pipe = r.pipeline(transaction=False)
            for key, _limit, window, _start, _rate, _what in counters:
                pipe.incr(key)
                pipe.expire(key, window + 1)
            return pipe.execute()

        replies = cache.call("throttle", count, default=None)
        if replies is None:
            return True  # Redis unavailable: fail open (logged by the cache's guard)
        for (_key, limit, window, start, rate, what), seen in zip(counters, replies[::2], strict=True):
            if int(seen) > limit:
                wait = max(1, math.ceil(start + window - now))
                raise exceptions.Throttled(wait=wait, detail=f"Request rate of {what} ({rate}) exceeded.")
        return True

    def wait(self) -> float | None:
        return None  # allow_request raises Throttled itself, with the wait of the limit that was hit
