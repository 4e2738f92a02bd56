"""The embedded servers: reuse by data dir, and cleanup after a killed owner."""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
from django.db import connection

from apps.platform import embedded


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
