"""PostgreSQL's binary COPY format, encoded a whole column at a time (bulk loads).

psycopg's `Copy.write_row` formats field by field through its dumpers: ~13 us a row of the
embeddings table, most of the service's ingest cost over a raw COPY (bench/embeddings.py). Here
each column is encoded in one pass (a matrix of vectors converted by numpy at once, UUIDs made in
one buffer, a value repeated on every row encoded once) and a row is a join of ready-made fields.
The stream is yielded in chunks, lazily: PostgreSQL parses one chunk while the next is built (on
two cores, building the whole stream first measured slower than psycopg's own streaming).

Formats (PostgreSQL's binary send functions; the equivalence test compares them byte for byte
with `COPY ... TO STDOUT (FORMAT BINARY)`): every field is an int4 length (-1 for NULL) and its
bytes; uuid 16 bytes; text UTF-8; pgvector `vector` uint16 dimensions + uint16 0 + big-endian
float4s; jsonb version 1 + JSON text; timestamptz int8 microseconds since 2000-01-01 UTC.

The stock path is psycopg's `write_row` (what bench/embeddings.py's raw baseline uses).
"""

from __future__ import annotations

import itertools
import os
import struct
import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import psycopg

SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
TRAILER = b"\xff\xff"
NULL = b"\xff\xff\xff\xff"
_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_int4 = struct.Struct("!i").pack
_jsonb_head = struct.Struct("!iB").pack

# A column is either an iterable of encoded fields (one a row) or one encoded field for every row.
Column = Iterable[bytes] | bytes


def uuid_value(value: uuid.UUID) -> bytes:
    """One uuid field (for a column that holds the same value on every row)."""
    return _int4(16) + value.bytes


def timestamptz_value(value: datetime) -> bytes:
    """One timestamptz field (an aware datetime)."""
    return _int4(8) + struct.pack("!q", (value - _PG_EPOCH) // timedelta(microseconds=1))


def _rows_of(buffer: np.ndarray) -> Iterator[bytes]:
    raw = buffer.tobytes()
    width = buffer.shape[1]
    return (raw[width * i:width * (i + 1)] for i in range(buffer.shape[0]))


def random_uuid4_column(n: int) -> Iterator[bytes]:
    """`n` fresh random (version 4) UUID fields, made in one buffer."""
    buffer = np.empty((n, 20), dtype=np.uint8)
    buffer[:, :4] = np.frombuffer(_int4(16), dtype=np.uint8)
    ids = buffer[:, 4:]
    ids[:] = np.frombuffer(os.urandom(16 * n), dtype=np.uint8).reshape(n, 16)
    ids[:, 6] = (ids[:, 6] & 0x0F) | 0x40  # version 4
    ids[:, 8] = (ids[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
    return _rows_of(buffer)


def text_column(values: Iterable[str | None]) -> Iterator[bytes]:
    """text fields (None is NULL)."""
    for value in values:
        if value is None:
            yield NULL
        else:
            data = value.encode()
            yield _int4(len(data)) + data


def jsonb_column(texts: Iterable[bytes]) -> Iterator[bytes]:
    """jsonb fields from JSON texts already serialized (UTF-8)."""
    for text in texts:
        yield _jsonb_head(len(text) + 1, 1) + text


def vector_column(matrix: np.ndarray) -> Iterator[bytes]:
    """pgvector `vector` fields, one a row of a 2-d float matrix, converted to float4 at once."""
    n, dim = matrix.shape
    buffer = np.empty((n, 8 + 4 * dim), dtype=np.uint8)
    buffer[:, :8] = np.frombuffer(struct.pack("!iHH", 4 + 4 * dim, dim, 0), dtype=np.uint8)
    buffer[:, 8:] = np.ascontiguousarray(matrix, dtype=">f4").view(np.uint8).reshape(n, 4 * dim)
    return _rows_of(buffer)


def copy_stream(columns: Sequence[Column], n: int, *, chunk_rows: int = 256) -> Iterator[bytes]:
    """`n` rows of `columns` (in the table's column order) as a binary COPY stream, in chunks."""
    head = struct.pack("!h", len(columns))
    fields = [itertools.repeat(c, n) if isinstance(c, bytes) else c for c in columns]
    parts: list[bytes] = [SIGNATURE]
    add = parts.extend
    for i, row in enumerate(zip(*fields, strict=True)):
        parts.append(head)
        add(row)
        if i % chunk_rows == chunk_rows - 1:
            yield b"".join(parts)
            parts = []
            add = parts.extend
    parts.append(TRAILER)
    yield b"".join(parts)


def copy_binary(cur: psycopg.Cursor, table: str, columns: Sequence[str], chunks: Iterable[bytes]) -> None:
    """COPY a ready-made binary stream (see copy_stream) into table(columns)."""
    with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT BINARY)") as copy:
        for chunk in chunks:
            copy.write(chunk)
