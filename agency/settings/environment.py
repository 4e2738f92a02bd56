"""What the process's environment says: the one `env`, the checkout, the data dir, and the service URLs.

Imported by `base` and by every `components/*` module, so a component never imports `base` back.

Settings only *describe*; they never start a server. With DATABASE_URL / REDIS_URL unset and
AGENCY_EMBEDDED true (local and test), `service_url` finds the embedded server that an explicit
step already started for AGENCY_DATA_DIR (`make services`, which `make run` runs first; the test
session's plugin `apps.platform.testing`), by reading the server's own files (postmaster.pid,
redis.pid + redis.port). That lookup starts no process and creates no folder and no user.

If such a server is not running, importing the settings fails with ImproperlyConfigured naming
the data dir and the command that starts it. Why at import and not at the first connection: a
connection-time message would need a wrapping database backend plus a connection class for each
of the three Redis clients (django-redis, kombu, redis-py), and a process that cannot reach its
database has nothing useful to do, so gunicorn, Celery and `manage.py migrate` stop at once with
the reason. Commands that need no database are not hurt: ruff and lint-imports never import the
settings, `manage.py help` lists Django's commands with the message, and `check` or
`collectstatic` run wherever a URL is set (the Dockerfile sets placeholder URLs for that).
"""

from __future__ import annotations

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from apps.platform import embedded

BASE_DIR = Path(__file__).resolve().parent.parent.parent
env = environ.Env()
if env.bool("DJANGO_READ_DOT_ENV_FILE", default=False):
    env.read_env(str(BASE_DIR / ".env"))

AGENCY_DATA_DIR = Path(env("AGENCY_DATA_DIR", default=str(BASE_DIR / "var"))).resolve()
# Use the bundled PostgreSQL/Redis of AGENCY_DATA_DIR when no URL is given (local and test only;
# production refuses). They are started by `make services` or the test session, never by settings.
AGENCY_EMBEDDED = env.bool("AGENCY_EMBEDDED", default=True)
# Durability off for throw-away clusters (read by the step that starts the server; on in tests).
AGENCY_EMBEDDED_EPHEMERAL = env.bool("AGENCY_EMBEDDED_EPHEMERAL", default=False)

_FINDERS = {
    "DATABASE_URL": ("PostgreSQL", embedded.find_postgres),
    "REDIS_URL": ("Redis", embedded.find_redis),
}


def service_url(var: str) -> str:
    """The URL in the environment variable `var`, else that of the running embedded server.

    Raises ImproperlyConfigured when neither exists; nothing is started here (see the module docstring).
    """
    url = env(var, default="")
    if url:
        return url
    if not AGENCY_EMBEDDED:
        raise ImproperlyConfigured(f"Set the {var} environment variable")
    name, find = _FINDERS[var]
    server = find(AGENCY_DATA_DIR)
    if server is None:
        raise ImproperlyConfigured(
            f"The embedded {name} of {AGENCY_DATA_DIR} is not running: start it with `make services` "
            f"(or `python -m apps.platform.embedded start`), or set {var}"
        )
    return server.url
