"""Embedded servers come back where they were: same port after a stop or a SIGKILL, data kept, clients reconnect.

A scratch data dir of its own (the session's servers are not restarted under the other tests).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

from apps.platform import embedded

ROOT = Path(__file__).resolve().parents[3]


def _scratch_data_dir() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="agency-test-restart-"))
    folder.chmod(0o755)  # the unprivileged PostgreSQL user must reach into it when we are root
    (folder / embedded.OWNER_FILE).write_text(str(os.getpid()))  # reaped if this session is killed
    return folder


def _sigkill_redis(folder: Path) -> None:
    pid = int((folder / "redis" / "redis.pid").read_text())
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while embedded._pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not embedded._pid_alive(pid)


def _ask(child: subprocess.Popen, text: str) -> dict:
    child.stdin.write(text + "\n")
    child.stdin.flush()
    return json.loads(child.stdout.readline())


def test_redis_comes_back_on_its_port_with_what_it_had_a_second_before_a_sigkill():
    folder = _scratch_data_dir()
    try:
        first = embedded.ensure_redis(folder)
        client = redis.Redis(port=first.port)
        client.set("kept", "yes")
        client.rpush("queue", *range(100))
        time.sleep(1.5)  # appendfsync everysec: what is older than a second is on disk
        _sigkill_redis(folder)
        assert not embedded._port_open(first.port)

        again = embedded.ensure_redis(folder)
        assert again.started_here and again.port == first.port
        assert client.get("kept") == b"yes"  # the same client object: redis-py reconnects to the same address
        assert client.llen("queue") == 100
        assert client.config_get("appendfsync") == {"appendfsync": "everysec"}
    finally:
        embedded.stop_redis(folder)
        shutil.rmtree(folder, ignore_errors=True)


def test_a_recorded_port_taken_by_another_program_gives_a_new_one_and_says_so(capfd):
    folder = _scratch_data_dir()
    squatter = socket.socket()
    try:
        first = embedded.ensure_redis(folder)
        embedded.stop_redis(folder)
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", first.port))
        squatter.listen()
        again = embedded.ensure_redis(folder)
        assert again.port != first.port
        assert f"used port {first.port}, which another program now holds" in capfd.readouterr().err
        assert (folder / "redis" / "redis.port").read_text() == str(again.port)  # the new one is recorded
    finally:
        squatter.close()
        embedded.stop_redis(folder)
        shutil.rmtree(folder, ignore_errors=True)


def test_a_django_process_started_before_restarts_of_both_servers_reconnects_without_a_restart():
    folder = _scratch_data_dir()
    child = None
    try:
        pg = embedded.ensure_postgres(folder, ephemeral=True)
        rd = embedded.ensure_redis(folder)
        assert (folder / "pg.port").read_text() == str(pg.port)
        env = {**os.environ, "DATABASE_URL": pg.url, "REDIS_URL": rd.url, "CELERY_BROKER_URL": f"{rd.url}/1",
               "AGENCY_DATA_DIR": str(folder), "DJANGO_SETTINGS_MODULE": "agency.settings.test"}
        child = subprocess.Popen([sys.executable, "-m", "apps.platform.tests.reconnect_child"],
                                 cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert json.loads(child.stdout.readline()) == {"ready": True}
        assert _ask(child, "before") == {"pg_port": pg.port, "redis": "before"}

        assert embedded.stop_postgres(folder)
        _sigkill_redis(folder)
        assert "error" in _ask(child, "while down")  # an error, the test of the outage itself

        pg2 = embedded.ensure_postgres(folder, ephemeral=True)
        rd2 = embedded.ensure_redis(folder)
        assert (pg2.port, rd2.port) == (pg.port, rd.port)
        assert _ask(child, "after") == {"pg_port": pg.port, "redis": "after"}  # the same process, reconnected
    finally:
        if child is not None:
            child.stdin.close()
            child.wait(timeout=30)
        embedded.stop_postgres(folder)
        embedded.stop_redis(folder)
        shutil.rmtree(folder, ignore_errors=True)
