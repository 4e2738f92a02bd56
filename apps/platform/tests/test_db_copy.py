"""The binary COPY encoder (apps/platform/db/copy.py) writes what PostgreSQL itself writes, byte for byte."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import numpy as np
import pytest

from apps.platform.db.copy import (
    copy_binary,
    copy_stream,
    jsonb_column,
    random_uuid4_column,
    text_column,
    timestamptz_value,
    uuid_value,
    vector_column,
)
from apps.platform.db.cursors import hot_cursor

pytestmark = pytest.mark.django_db

_TABLE = ("CREATE TEMP TABLE copy_check (id uuid, owner uuid, name text, note text, v vector, meta jsonb, "
          "at timestamptz)")
_COLUMNS = ["id", "owner", "name", "note", "v", "meta", "at"]


def _columns(n: int):
    vectors = np.array([[0.1, -2.5, 3.0e-8, 1e30], [1, 2, 3, 4], [0, -0.0, 7.5, -1e-30]], dtype=np.float32)[:n]
    names = ["naïve-日本-😀", "2", ""][:n]
    notes = ["Grüße, 世界", None, "x" * 300][:n]
    # jsonb in the text form PostgreSQL prints (its binary COPY output is that text, after version 1)
    metas = [b'{"tags": ["\xc3\xa4", 1, null, true], "nested": {"x": 1.5}}', b"{}", b'[1, "a"]'][:n]
    owner = uuid.UUID("12345678-1234-5678-1234-567812345678")
    at = datetime(2026, 12, 1, 20, 5, 7, 123456, tzinfo=UTC)
    return [random_uuid4_column(n), uuid_value(owner), text_column(names), text_column(notes),
            vector_column(vectors), jsonb_column(metas), timestamptz_value(at)]


@pytest.mark.parametrize("chunk_rows", [1, 2, 256])
def test_the_stream_is_what_postgresql_copies_out(chunk_rows):
    """COPY our stream in, COPY the table out with PostgreSQL's own binary encoder: the same bytes."""
    stream = b"".join(copy_stream(_columns(3), 3, chunk_rows=chunk_rows))
    with hot_cursor() as cur:
        cur.execute(_TABLE)
        copy_binary(cur, "copy_check", _COLUMNS, [stream])
        with cur.copy(f"COPY copy_check ({', '.join(_COLUMNS)}) TO STDOUT (FORMAT BINARY)") as copy:
            out = b"".join(bytes(chunk) for chunk in copy)
        cur.execute("SELECT id, owner, name, note, v::text, meta, at FROM copy_check")
        rows = cur.fetchall()
    assert out == stream
    first = rows[0]
    assert first[0].version == 4 and len({r[0] for r in rows}) == 3
    assert first[1] == uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert (first[2], first[3], rows[1][3]) == ("naïve-日本-😀", "Grüße, 世界", None)
    assert first[5] == {"tags": ["ä", 1, None, True], "nested": {"x": 1.5}}
    assert first[6] == datetime(2026, 12, 1, 20, 5, 7, 123456, tzinfo=UTC)


def test_it_matches_psycopgs_write_row():
    """The stock path (psycopg's dumpers, field by field) loads the same rows."""
    ids = [uuid.uuid4(), uuid.uuid4()]
    vectors = np.array([[0.5, -1.0], [3.0e-8, 1e30]], dtype=np.float32)
    at = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    with hot_cursor() as cur:
        cur.execute("CREATE TEMP TABLE copy_fast (id uuid, name text, v vector, at timestamptz)")
        cur.execute("CREATE TEMP TABLE copy_stock (id uuid, name text, v vector, at timestamptz)")
        columns = [(uuid_value(i) for i in ids), text_column(["é", None]), vector_column(vectors),
                   timestamptz_value(at)]
        copy_binary(cur, "copy_fast", ["id", "name", "v", "at"], copy_stream(columns, 2))
        with cur.copy("COPY copy_stock (id, name, v, at) FROM STDIN") as copy:
            for i, name, row in zip(ids, ["é", None], vectors, strict=True):
                copy.write_row([i, name, "[" + ",".join(repr(float(x)) for x in row) + "]", at])
        cur.execute("SELECT count(*) FROM (SELECT id, name, v::text, at FROM copy_fast EXCEPT ALL "
                    "SELECT id, name, v::text, at FROM copy_stock) d")
        assert cur.fetchone()[0] == 0
        cur.execute("SELECT count(*) FROM copy_fast")
        assert cur.fetchone()[0] == 2


def test_no_rows_is_a_valid_stream():
    with hot_cursor() as cur:
        cur.execute(_TABLE)
        copy_binary(cur, "copy_check", _COLUMNS, copy_stream(_columns(0), 0))
        cur.execute("SELECT count(*) FROM copy_check")
        assert cur.fetchone()[0] == 0
