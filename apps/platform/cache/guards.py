"""Guards around the cache: input checks, Redis error types, and once-per-interval error logging."""

from __future__ import annotations

import logging
import os
import re
import socket
import threading
import time
import uuid
from typing import Any

import redis
from django_redis.exceptions import ConnectionInterrupted

from apps.common.errors import ValidationFailed

logger = logging.getLogger("apps.platform.cache")

REDIS_ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, ConnectionInterrupted, OSError)
# Glob syntax Redis understands; a pattern that is nothing but these would match every key.
_GLOB = re.compile(r"[*?\[\]\\^!-]")
ACCESS_KEY = "cache:access"
STATS_KEY = "cache:stats"


class ThrottledLog:
    """Log a recurring error at most once per interval, with how many were suppressed."""

    def __init__(self, interval: float, log: logging.Logger = logger) -> None:
        self.interval = interval
        self.log = log
        self._last = -1e18
        self.suppressed = 0
        self.total = 0
        self._lock = threading.Lock()

    def should_log(self) -> tuple[bool, int]:
        with self._lock:
            self.total += 1
            now = time.monotonic()
            if now - self._last >= self.interval:
                self._last, n, self.suppressed = now, self.suppressed, 0
                return True, n
            self.suppressed += 1
            return False, 0

    def report(self, what: str, exc: BaseException) -> None:
        emit, suppressed = self.should_log()
        if emit:
            self.log.warning("cache: %s failed: %s: %s (%d similar errors suppressed)",
                             what, type(exc).__name__, exc, suppressed)


def process_id() -> str:
    """Unique per cache instance and process (host:pid:random), so a publisher skips its own messages."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def check_key(key: Any, what: str = "key", *, limit: int = 1024) -> str:
    """A project cache key or tag: a non-empty str of at most `limit` UTF-8 bytes (the cache's MAX_KEY_BYTES)."""
    if not isinstance(key, str) or not key:
        raise ValidationFailed(f"cache {what} must be a non-empty string, got {key!r}", code="invalid_key")
    if len(key) * 4 > limit and len(key.encode()) > limit:
        raise ValidationFailed(
            f"cache {what} is {len(key.encode())} bytes, over the limit of {limit} bytes",
            code="key_too_long", details={"key": key[:80] + "…", "limit": limit},
        )
    return key


def check_ttl(ttl: Any) -> float | None:
    if ttl is None:
        return None
    if isinstance(ttl, bool) or not isinstance(ttl, int | float):
        raise ValidationFailed(f"ttl must be a number of seconds, got {ttl!r}", code="invalid_ttl")
    if ttl <= 0:
        raise ValidationFailed(f"ttl must be positive, got {ttl}", code="invalid_ttl")
    return float(ttl)


def check_pattern(pattern: Any, *, allow_all: bool) -> str:
    if not isinstance(pattern, str):
        raise ValidationFailed(f"pattern must be a string, got {pattern!r}", code="invalid_pattern")
    if not _GLOB.sub("", pattern).strip() and not allow_all:
        raise ValidationFailed(
            f"pattern {pattern!r} is empty or wildcard-only and would delete every key; "
            "pass allow_all=True to really do that", code="pattern_too_broad",
        )
    return pattern or "*"
