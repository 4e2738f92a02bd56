"""The embedded servers: reuse by data dir, and cleanup after a killed owner."""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from agency import embedded


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_a_second_start_reuses_the_running_redis_and_orphans_are_reaped():
    folder = Path(tempfile.mkdtemp(prefix="agency-orphan-"))
    first = embedded.ensure_redis(folder)
    second = embedded.ensure_redis(folder)
    assert first.started_here and not second.started_here and first.port == second.port

    (folder / embedded.OWNER_FILE).write_text(str(_dead_pid()))
    embedded._started.remove(("redis", folder))  # as if the owner had been killed
    reaped = embedded.reap_orphans("agency-orphan-")

    assert folder in reaped
    assert not folder.exists()
    assert not embedded._port_open(first.port)


def test_dirs_of_living_owners_are_left_alone():
    folder = Path(tempfile.mkdtemp(prefix="agency-orphan-"))
    (folder / embedded.OWNER_FILE).write_text(str(os.getpid()))
    try:
        assert folder not in embedded.reap_orphans("agency-orphan-")
        assert folder.exists()
    finally:
        shutil.rmtree(folder)
