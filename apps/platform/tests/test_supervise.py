"""`make run`'s supervisor: a SIGKILLed embedded server is back within seconds, on its port, with its data."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
import redis
from django.core.cache import cache
from django_redis import get_redis_connection

from apps.agents.tests.factories import AgentFactory
from apps.platform import embedded
from apps.platform.tests.test_restarts import ROOT, _scratch_data_dir, _sigkill_redis

# Measured here (interval 0.2 s, a loaded 2-core box): Redis back 1.2 s after its SIGKILL, PostgreSQL 0.3-2.6 s.
BOUND_SECONDS = 15
LOAD_SECONDS = 3  # requests go on this long after the SIGKILL


def _wait_back(find, folder: Path, port: int) -> float:
    start = time.monotonic()
    while time.monotonic() - start < BOUND_SECONDS:
        info = find(folder)
        if info is not None:
            assert info.port == port
            return time.monotonic() - start
        time.sleep(0.1)
    raise AssertionError(f"not back within {BOUND_SECONDS} s")


def test_the_supervisor_restarts_sigkilled_servers_on_their_ports_with_their_data():
    folder = _scratch_data_dir()
    supervisor = None
    try:
        pg = embedded.ensure_postgres(folder, ephemeral=True)
        rd = embedded.ensure_redis(folder)
        with psycopg.connect(f"host=127.0.0.1 port={pg.port} user=postgres dbname=agency", autocommit=True) as c:
            c.execute("CREATE TABLE kept (v int)")
            c.execute("INSERT INTO kept VALUES (42)")
        redis.Redis(port=rd.port).set("kept", "yes")
        time.sleep(1.2)  # the AOF's fsync every second
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        env.update(AGENCY_DATA_DIR=str(folder), AGENCY_EMBEDDED_EPHEMERAL="true",
                   AGENCY_EMBEDDED_SUPERVISE_INTERVAL="0.2")
        supervisor = subprocess.Popen([sys.executable, "-m", "apps.platform.embedded", "supervise"], cwd=ROOT,
                                      env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert "watching postgres, redis" in supervisor.stdout.readline()

        killed = time.monotonic()
        _sigkill_redis(folder)  # returns once it is dead
        _wait_back(embedded.find_redis, folder, rd.port)
        redis_back = time.monotonic() - killed
        assert redis.Redis(port=rd.port).get("kept") == b"yes"

        postmaster = int((pg.data_dir / "postmaster.pid").read_text().split()[0])
        start = time.monotonic()
        os.kill(postmaster, signal.SIGKILL)
        while embedded._pid_alive(postmaster):
            time.sleep(0.02)
        _wait_back(embedded.find_postgres, folder, pg.port)
        while True:  # listening comes before the end of crash recovery ("not yet accepting connections")
            try:
                c = psycopg.connect(f"host=127.0.0.1 port={pg.port} user=postgres dbname=agency")
                break
            except psycopg.OperationalError:
                assert time.monotonic() - start < BOUND_SECONDS
                time.sleep(0.1)
        pg_back = time.monotonic() - start
        with c:
            assert c.execute("SELECT v FROM kept").fetchone() == (42,)
        print(f"back after SIGKILL: redis {redis_back:.1f} s, postgres {pg_back:.1f} s")
    finally:
        if supervisor is not None:
            supervisor.terminate()
            supervisor.wait(timeout=10)
        embedded.stop_postgres(folder)
        embedded.stop_redis(folder)
        shutil.rmtree(folder, ignore_errors=True)
    assert not embedded._port_open(pg.port) and not embedded._port_open(rd.port)  # the supervisor let them go


def _read_pid(data_dir: Path) -> int | None:
    return embedded._read_int(data_dir / "redis" / "redis.pid")


@pytest.mark.django_db
def test_redis_sigkilled_under_load_gives_no_5xx_but_the_session_stores_503_and_comes_back(tenant_a):
    """Mixed requests while the session's Redis is SIGKILLed and the supervisor restarts it."""
    data_dir = Path(os.environ["AGENCY_DATA_DIR"])
    before = embedded.find_redis(data_dir)
    if before is None:
        pytest.skip("REDIS_URL was given to the session: it has no embedded Redis to kill")
    agent = AgentFactory(tenant=tenant_a.tenant)
    session_url = f"/api/v1/agents/{agent.id}/session/"
    assert tenant_a.client.put(session_url, {"data": {"n": 0}}, format="json").status_code == 200
    time.sleep(1.1)  # the AOF's fsync
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}  # the URL it exported: this is embedded
    env["AGENCY_EMBEDDED_SUPERVISE_INTERVAL"] = "0.2"
    supervisor = subprocess.Popen([sys.executable, "-m", "apps.platform.embedded", "supervise"], cwd=ROOT,
                                  env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    statuses: list[tuple[str, int]] = []
    durations: list[float] = []
    try:
        assert "watching redis" in supervisor.stdout.readline()  # DATABASE_URL is set: Redis only
        for _ in range(5):  # warm
            assert tenant_a.client.get("/api/v1/agents/").status_code == 200
        killed = time.monotonic()
        os.kill(before_pid := int((data_dir / "redis" / "redis.pid").read_text()), signal.SIGKILL)
        while embedded._port_open(before.port):  # dying (its pid lingers until reaped: not waited for)
            time.sleep(0.01)
        back_at = session_back = caching_back = None
        redis_client = get_redis_connection("default")
        while time.monotonic() - killed < BOUND_SECONDS:
            for name, url in (("list", "/api/v1/agents/"), ("detail", f"/api/v1/agents/{agent.id}/"),
                              ("session", session_url)):
                t0 = time.monotonic()
                response = tenant_a.client.get(url)
                durations.append(round(time.monotonic() - t0, 3))
                assert response["Content-Type"].startswith("application/json"), (name, response.status_code)
                statuses.append((name, response.status_code))
            if back_at is None and _read_pid(data_dir) != before_pid and embedded.find_redis(data_dir):
                back_at = time.monotonic()
            if back_at is not None and session_back is None and statuses[-1] == ("session", 200):
                session_back = time.monotonic() - killed
            # Caching is back once the cache's circuit (open RETRY_INTERVAL after an error) lets writes through.
            if caching_back is None and back_at is not None:  # (the raw client raises while Redis is down)
                cache.set("after-restart", len(statuses))
                if redis_client.exists(cache.make_key("after-restart")):
                    caching_back = time.monotonic() - killed
            if caching_back is not None and session_back is not None and time.monotonic() - killed > LOAD_SECONDS:
                break
        assert back_at is not None, "the supervisor did not restart Redis"
        assert embedded.find_redis(data_dir).port == before.port
        assert tenant_a.client.get(session_url).json()["data"] == {"n": 0}  # kept through the SIGKILL
        assert {s for n, s in statuses if n != "session"} == {200}  # reads that need only PostgreSQL: no 5xx
        assert {s for n, s in statuses if n == "session"} <= {200, 503}  # the one that needs Redis: JSON 503
        assert caching_back is not None, "caching did not come back"
        print(f"{len(statuses)} requests; Redis back {back_at - killed:.1f} s after the SIGKILL, sessions "
              f"answering again after {session_back:.1f} s; 503s: {sum(s == 503 for _, s in statuses)}; "
              f"slowest request {max(durations)} s; caching back after {caching_back:.1f} s")
    finally:
        supervisor.terminate()
        supervisor.wait(timeout=10)
        embedded.ensure_redis(data_dir)  # whatever happened, the rest of the session has its Redis
