"""The platform layer: plumbing that is not domain logic, shared by every domain app.

* ``db/``: the hot (prepared, binary) cursor, pgvector-speaking cursors, transaction-local settings.
* ``http/``: the request-stack shortcuts (middlewares, content negotiation), the vector JSON parser,
  token authentication, the API's exception handler.
* ``jobs``: enqueueing Celery tasks by name after commit, so services need not import task modules.
* ``health``: reachability of PostgreSQL, Redis and Celery.
* ``embedded``: the bundled PostgreSQL and Redis for machines with nothing installed.

Imports go down: domain apps import the platform and ``apps.common``; the platform imports only
``apps.common`` and libraries (an import-linter contract in ``.importlinter`` keeps this true).
Each fast path here has one switch back to the stock behaviour, an equivalence test and a
benchmark row.
"""
