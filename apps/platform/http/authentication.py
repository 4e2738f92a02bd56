"""Token authentication that reads the token and its user with one prepared statement per request.

DRF's ``TokenAuthentication`` runs ``Token.objects.select_related("user").get(key=...)`` on every
request: the ORM builds and compiles that query each time, and Django's psycopg backend sends it
as text to be parsed and planned again. An earlier version of this module cached the result in
the two-level cache for 60 s and dropped the entry from ``post_save``/``post_delete`` receivers,
but no signal fires for ``QuerySet.update()``, ``QuerySet.delete()`` or raw SQL, so a user
deactivated or a token deleted that way stayed valid for the TTL. Revocation must hold from the
commit on, whichever way the row changed, so the row is read from the database on every request.

Measured here (2 shared cores, embedded PostgreSQL 18, in-process, p50 over 3 x 3,000 calls, the
best round; ``h3`` measurement, same run):

    prepared ``SELECT 1`` (one round trip)            164 us
    ORM ``select_related("user").get(key=...)``      1,506 us
    cache hit, the old path (no DB: wrong after update())   26 us
    cache hit + a prepared check of the user row        276 us
    one prepared token+user lookup, model built        222 us

A cache entry that must be validated by a query costs more than the query that loads the row, so
there is no cache: ``PreparedTokenAuthentication`` runs one prepared, binary statement
(``apps.platform.db.cursors.fetch_prepared``, as ``apps.tenants.selectors.api_key_lookup`` does for
API keys) and builds the ``Token`` and user instances from the row. It costs one round trip plus
~60 us of Python: ~7x cheaper than the ORM lookup it replaces, ~0.2 ms dearer than the unsafe
cache hit (bench/api.py has the whole-request rows).

What it skips, and why that is safe: the ORM's query building (the statement is built once from
the models' own table and column names, so a custom user model works too) and Django's
per-request connection health check (``hot_cursor``: a dead connection fails this statement and
Django reconnects on the next request). Switches back: ``AGENCY_DB_PREPARED_STATEMENTS=false``
keeps the statement server-bound but unprepared (for poolers that cannot keep prepared
statements); DRF's own ``rest_framework.authentication.TokenAuthentication`` in
``DEFAULT_AUTHENTICATION_CLASSES`` is the stock behaviour, and the tests check that both answer
alike.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token

from apps.platform.db.cursors import fetch_prepared

_KEY_LENGTH = Token._meta.get_field("key").max_length
_TOKEN_FIELDS = ["key", "user_id", "created"]


@cache
def _lookup() -> tuple[str, list[str]]:
    """The statement (token's created + every concrete column of the user model) and the user's attnames."""
    user_model = get_user_model()
    fields = user_model._meta.concrete_fields
    qn = connection.ops.quote_name
    token_user = Token._meta.get_field("user")
    columns = ", ".join(f"u.{qn(f.column)}" for f in fields)
    sql = (f"SELECT t.{qn(Token._meta.get_field('created').column)}, {columns}"
           f"  FROM {qn(Token._meta.db_table)} t"
           f"  JOIN {qn(user_model._meta.db_table)} u ON u.{qn(user_model._meta.pk.column)} = t.{qn(token_user.column)}"
           f" WHERE t.{qn(Token._meta.pk.column)} = %s")
    return sql, [f.attname for f in fields]


def token_user_lookup(key: str) -> Token | None:
    """The token `key` with its user (as `token.user`) as they are in the database now, or None.

    The instances are what the ORM would have built (`Model.from_db`: saved state, right database),
    so code that saves the user or reads any of its fields sees no difference.
    """
    if not key or len(key) > _KEY_LENGTH or "\x00" in key:
        return None  # no such key can exist; NUL would be a database error, not a 401
    sql, names = _lookup()
    rows = fetch_prepared(sql, [key])
    if not rows:
        return None
    created, *values = rows[0]
    user = get_user_model().from_db("default", names, values)
    token = Token.from_db("default", _TOKEN_FIELDS, [key, user.pk, created])
    token.user = user
    return token


class PreparedTokenAuthentication(TokenAuthentication):
    """``TokenAuthentication`` with the key → (user, token) lookup as one prepared statement, never cached."""

    def authenticate_credentials(self, key: str) -> tuple[Any, Token]:
        token = token_user_lookup(key)
        if token is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        return token.user, token
