"""psycopg cursors on Django's own connection (same transaction) that speak pgvector in binary.

Search sends the query vector as a binary parameter with server-side binding (no 768-number text
literal to format in Python and parse in PostgreSQL, twice); ingest COPYs float32 rows in binary.
"""

from __future__ import annotations

import psycopg
from django.db import connection
from pgvector.psycopg.vector import register_vector_info
from psycopg.types import TypeInfo

_types: dict[str, TypeInfo] = {}


def vector_cursor() -> psycopg.Cursor:
    """A server-side-binding psycopg cursor on Django's connection, with numpy -> vector dumpers."""
    connection.ensure_connection()
    raw = connection.connection
    s = connection.settings_dict
    key = f"{s['HOST']}:{s['PORT']}/{s['NAME']}"
    info = _types.get(key)
    if info is None:
        info = _types[key] = TypeInfo.fetch(raw, "vector")
    cur = psycopg.Cursor(raw)
    register_vector_info(cur, info)
    return cur

