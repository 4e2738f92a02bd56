"""Fixtures of the schema app's tests: a table of vectors per collection (the shape the backup checksums),
a backup dir per test, and helpers to compare database contents."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from apps.migrations.services import postgres

VECTOR_TABLE = "test_backup_vectors"


@pytest.fixture(autouse=True)
def backup_dir(settings, tmp_path):
    settings.AGENCY_BACKUP_DIR = tmp_path / "backups"
    return settings.AGENCY_BACKUP_DIR


@pytest.fixture
def vector_table(transactional_db) -> Iterator[str]:
    """A committed table with vectors in three collections and an HNSW index (dropped afterwards)."""
    with postgres.autocommit_connection() as conn:
        conn.execute(f"DROP TABLE IF EXISTS {VECTOR_TABLE}")
        conn.execute(f"CREATE TABLE {VECTOR_TABLE} (id bigserial PRIMARY KEY, collection_id int NOT NULL, "
                     "vector vector(3) NOT NULL, note text)")
        conn.execute(f"INSERT INTO {VECTOR_TABLE} (collection_id, vector, note) "
                     "SELECT i % 3, ARRAY[random(), random(), i]::vector, 'row ' || i FROM generate_series(1, 300) i")
        conn.execute(f"CREATE INDEX {VECTOR_TABLE}_hnsw ON {VECTOR_TABLE} USING hnsw (vector vector_l2_ops)")
    yield VECTOR_TABLE
    with postgres.autocommit_connection() as conn:
        conn.execute(f"DROP TABLE IF EXISTS {VECTOR_TABLE}")


def counts_and_vectors(dbname: str | None = None) -> tuple[dict, dict]:
    """Row counts per table and the vector checksums per collection of a database."""
    m = postgres.manifest_of(dbname)
    return {t: v["rows"] for t, v in m["tables"].items()}, m["vectors"]
