"""The embedded servers: reuse by data dir, cleanup after a killed owner, and nothing started on import."""

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.db import connection

from apps.platform import embedded

ROOT = Path(__file__).resolve().parents[3]


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


def _scratch_pginstall(root: Path, *, control_version: str) -> Path:
    """A pginstall whose bin/ is the real one and whose vector.so is a stand-in for the wheel's."""
    real = embedded._pginstall()
    (root / "bin").symlink_to(real / "bin")
    (root / "lib" / "postgresql").mkdir(parents=True)
    (root / "lib" / "postgresql" / "vector.so").write_bytes(b"the wheel's -march=native build")
    ext = root / "share" / "postgresql" / "extension"
    ext.mkdir(parents=True)
    (ext / "vector.control").write_text(f"default_version = '{control_version}'\n")
    return root


def test_pgvector_is_rebuilt_once_over_the_wheels_library(tmp_path):
    pginstall = _scratch_pginstall(tmp_path, control_version=embedded.PGVECTOR_VERSION)
    lib, marker = embedded.pgvector_library(pginstall)
    assert not embedded.pgvector_is_portable(pginstall)

    assert embedded.ensure_portable_pgvector(pginstall) is True
    assert lib.read_bytes().startswith(b"\x7fELF")
    assert marker.read_text().strip() == embedded._sha256(lib)
    assert embedded.ensure_portable_pgvector(pginstall) is False  # built once

    lib.write_bytes(b"a reinstalled wheel")  # pip install --force-reinstall puts the wheel's back
    assert not embedded.pgvector_is_portable(pginstall)


def test_pgvector_source_of_another_version_than_the_wheels_sql_is_refused(tmp_path):
    pginstall = _scratch_pginstall(tmp_path, control_version="9.9.9")
    with pytest.raises(embedded.EmbeddedError, match=rf"pgvector 9\.9\.9.*holds {embedded.PGVECTOR_VERSION}"):
        embedded.ensure_portable_pgvector(pginstall)
    assert (tmp_path / "lib" / "postgresql" / "vector.so").read_bytes() == b"the wheel's -march=native build"


def test_the_embedded_server_runs_the_portable_pgvector():
    assert embedded.pgvector_is_portable()


@pytest.mark.django_db
def test_pgvector_paths_the_wheels_build_crashed_on_answer():
    """A float8[] cast and 768-dimensional distances: SIGILL (server in crash recovery) without AVX-512."""
    with connection.cursor() as cur:
        cur.execute("""
            WITH v AS (SELECT (SELECT array_agg(i::float8 / 768) FROM generate_series(1, 768) i)::vector(768) AS a,
                              (SELECT array_agg(1 - i::float8 / 768) FROM generate_series(1, 768) i)::vector(768) AS b)
            SELECT round((a <-> b)::numeric, 3), round((a <=> b)::numeric, 3), round((a <#> b)::numeric, 1),
                   round((a <+> b)::numeric, 1), round((a::halfvec <=> b::halfvec)::numeric, 3),
                   binary_quantize(a - b) <~> binary_quantize(b - a)
            FROM v""")
        l2, cosine, neg_ip, l1, half_cosine, hamming = (float(x) for x in cur.fetchone())
    a = np.arange(1, 769) / 768
    b = 1 - a
    assert l2 == round(float(np.linalg.norm(a - b)), 3)
    assert cosine == round(float(1 - a @ b / (np.linalg.norm(a) * np.linalg.norm(b))), 3)
    assert neg_ip == round(float(-(a @ b)), 1)
    assert l1 == round(float(np.abs(a - b).sum()), 1)
    assert half_cosine == pytest.approx(cosine, abs=0.002)
    assert hamming == int(((a - b) > 0).sum() + ((b - a) > 0).sum())


# --------------------------------------------------------------------------------------------
# nothing starts on import: settings find the servers an explicit step started


def _env_without_urls(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")}
    return {**env, "AGENCY_DATA_DIR": str(data_dir), "DJANGO_SETTINGS_MODULE": "agency.settings.local", **extra}


def _python(code_or_args: str | list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    args = ["-c", code_or_args] if isinstance(code_or_args, str) else code_or_args
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def _processes_mentioning(text: str) -> list[str]:
    """Command lines of the machine's processes that name `text` (a daemonised server is no child of ours)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if proc.name.isdigit() and text in cmdline and int(proc.name) != os.getpid():
            found.append(cmdline)
    return found


def _scratch_data_dir() -> Path:
    """A fresh data dir, reachable by the PostgreSQL user, reaped like the session's if we are killed."""
    folder = Path(tempfile.mkdtemp(prefix="agency-test-"))
    folder.chmod(0o755)
    (folder / embedded.OWNER_FILE).write_text(str(os.getpid()))
    return folder


def test_importing_the_settings_starts_nothing_and_names_the_step_that_does():
    folder = _scratch_data_dir()
    users = {u.pw_name for u in pwd.getpwall()}
    try:
        r = _python("import django; django.setup()", _env_without_urls(folder))
        assert r.returncode != 0
        assert (f"ImproperlyConfigured: The embedded PostgreSQL of {folder} is not running: start it with "
                "`make services` (or `python -m apps.platform.embedded start`), or set DATABASE_URL") in r.stderr

        # PostgreSQL given, Redis not: the message names Redis and its variable.
        r = _python("import django; django.setup()",
                    _env_without_urls(folder, DATABASE_URL="postgres://postgres@127.0.0.1:1/agency"))
        assert r.returncode != 0
        assert f"The embedded Redis of {folder} is not running" in r.stderr and "or set REDIS_URL" in r.stderr

        assert list(folder.iterdir()) == [folder / embedded.OWNER_FILE]  # no cluster, no redis dir, no lock
        assert _processes_mentioning(str(folder)) == []
        assert {u.pw_name for u in pwd.getpwall()} == users  # the lookup never adds the PostgreSQL user
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_settings_resolve_to_the_servers_that_the_start_command_started():
    folder = _scratch_data_dir()
    env = _env_without_urls(folder)
    try:
        started = _python(["-m", "apps.platform.embedded", "start"], env)
        assert started.returncode == 0, started.stderr
        pg, rd = embedded.find_postgres(folder), embedded.find_redis(folder)
        assert pg is not None and rd is not None and not pg.started_here
        assert f"postgres  started          {pg.url}" in started.stdout

        r = _python(
            "import django; django.setup()\n"
            "from django.conf import settings\n"
            "from django.db import connection\n"
            "from django_redis import get_redis_connection\n"
            "with connection.cursor() as cur:\n"
            "    cur.execute(\"SELECT current_setting('port')\")\n"
            "    port = cur.fetchone()[0]\n"
            "print(settings.DATABASE_URL, port, settings.REDIS_URL, get_redis_connection().ping())",
            env,
        )
        assert r.returncode == 0, r.stderr
        assert r.stdout.split() == [pg.url, str(pg.port), rd.url, "True"]

        again = _python(["-m", "apps.platform.embedded", "start"], env)
        assert "already running" in again.stdout and embedded.find_postgres(folder).port == pg.port
    finally:
        _python(["-m", "apps.platform.embedded", "stop"], env)
        shutil.rmtree(folder, ignore_errors=True)
    assert not embedded._port_open(pg.port) and not embedded._port_open(rd.port)


def test_the_session_exports_the_urls_of_the_servers_it_started_for_its_children():
    """The test plugin started these before the settings were read; spawned processes inherit the URLs."""
    data_dir = Path(os.environ["AGENCY_DATA_DIR"])
    assert data_dir == settings.AGENCY_DATA_DIR
    if embedded.find_postgres(data_dir) is None:
        pytest.skip("DATABASE_URL was given to the session: it started no PostgreSQL")
    assert os.environ["DATABASE_URL"] == settings.DATABASE_URL == embedded.find_postgres(data_dir).url
    assert os.environ["REDIS_URL"] == settings.REDIS_URL == embedded.find_redis(data_dir).url
    assert (data_dir / embedded.OWNER_FILE).read_text() == str(os.getpid())
