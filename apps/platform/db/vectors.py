"""psycopg cursors on Django's own connection (same transaction) that speak pgvector in binary.

Search sends the query vector as a binary parameter with server-side binding (no 768-number text
literal to format in Python and parse in PostgreSQL); ingest COPYs float32 rows in binary. The
cursor is apps.platform.db.cursors's hot cursor (binary results, Django's error wrapping, query metrics);
the numpy/vector adapters are registered once per database connection (pgvector's Django field
reads numpy arrays as well as text, so Django's own queries are unaffected).
"""

from __future__ import annotations

import weakref

from django.db import DEFAULT_DB_ALIAS, connections
from pgvector.psycopg.vector import register_vector_info
from psycopg.types import TypeInfo

from apps.platform.db.cursors import forget_idle_cursor, hot_cursor

_registered: weakref.WeakSet = weakref.WeakSet()


def vector_cursor() -> hot_cursor:
    """A server-side-binding psycopg cursor on Django's connection, with numpy -> vector dumpers."""
    wrapper = connections[DEFAULT_DB_ALIAS]
    wrapper.ensure_connection()
    raw = wrapper.connection
    if raw not in _registered:
        register_vector_info(raw, TypeInfo.fetch(raw, "vector"))
        _registered.add(raw)
        forget_idle_cursor(wrapper)  # a cursor made before has no vector adapters
    return hot_cursor(wrapper=wrapper)
