"""Every benchmark runs in `--quick` mode on tiny data, so that none of them rots.

They run as subprocesses against the session's embedded servers (each in its own scratch database):
the test plugin exported DATABASE_URL / REDIS_URL, which the subprocesses inherit.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
SCRIPTS = sorted(p for p in BENCH.glob("*.py") if p.name != "harness.py" and not p.name.startswith("_"))


@pytest.mark.parametrize("script", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_benchmark_runs_in_quick_mode(script: Path, django_db_setup):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "agency.settings.local"}
    result = subprocess.run([sys.executable, str(script), "--quick"], cwd=BENCH.parent, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "| " in result.stdout  # printed its table
