"""What every benchmark shares: Django set up against a scratch database, timing, the table.

Benchmarks run as scripts (`python bench/<name>.py [--quick]`). They create a scratch database
`agency_bench_<pid>` on the configured PostgreSQL server (embedded by default), migrate it, and
drop it at the end, so a benchmark never touches the dev or test data. Each row of the table is
measured against a baseline (raw psycopg, raw redis-py, numpy) in the same run, because this
machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def parse_args(description: str, extra: Callable[[argparse.ArgumentParser], None] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="tiny data; the test suite runs it")
    if extra:
        extra(parser)
    return parser.parse_args()


@contextmanager
def django_scratch_db(label: str = "bench") -> Iterator[None]:
    """Django configured on a fresh, migrated scratch database that is dropped afterwards.

    The cache gets its own key prefix too: Redis is shared with the dev database, and a cached row
    (a collection by name, say) must not leak from one database into another.
    """
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agency.settings.local")
    os.environ.setdefault("AGENCY_CACHE_PREFIX", f"agency-{label}-{os.getpid()}")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection, connections

    from apps.platform.db.tenancy import as_owner

    name = f"agency_{label}_{os.getpid()}"
    with as_owner(), connection.cursor() as cur:  # the login role may not create databases
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cur.execute(f'CREATE DATABASE "{name}"')
    connections.close_all()
    original = settings.DATABASES["default"]["NAME"]
    settings.DATABASES["default"]["NAME"] = name
    connection.settings_dict["NAME"] = name
    try:
        call_command("migrate", verbosity=0, interactive=False)
        yield
    finally:
        from apps.platform.cache import cache_invalidate_pattern

        cache_invalidate_pattern("*", allow_all=True, on_commit=False)  # only this prefix's keys
        connections.close_all()
        settings.DATABASES["default"]["NAME"] = original
        connection.settings_dict["NAME"] = original
        with as_owner(), connection.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connections.close_all()


def psycopg_dsn(*, owner: bool = True) -> str:
    """A libpq DSN for the database Django is using now (for the raw baselines).

    As the tables' owner by default, whom row-level security exempts: the raw baselines measure
    PostgreSQL without the policies (bench/tenancy.py compares both).
    """
    from django.db import connection

    from apps.platform.db.tenancy import owner_options

    s = connection.settings_dict
    parts = [f"host={s['HOST']}", f"port={s['PORT']}", f"dbname={s['NAME']}", f"user={s['USER']}"]
    if owner and owner_options():
        parts.append(f"options='{owner_options()}'")
    if s.get("PASSWORD"):
        parts.append(f"password={s['PASSWORD']}")
    return " ".join(parts)


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    """Wall-clock seconds of `repeat` calls of `fn`."""
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


class WsgiClient:
    """Calls the Django WSGI application in-process the way a server worker does, and times it.

    A WSGI server calls the application, sends the body it returns, and only then calls the
    response's close(), which runs the work deliberately left until after the response (the
    access-log push to Redis). `request()` times what a client waits for: from the call to the
    last body byte. close() runs outside the timed part, as it does after the client has its
    answer. No socket and HTTP parsing: those are the server's cost, not this project's.
    """

    def __init__(self, token: str) -> None:
        from agency.wsgi import application  # what gunicorn serves, prepared the same way

        self.handler = application
        self.token = token

    def request(self, method: str, path: str, body: bytes | str = b"") -> tuple[float, int, bytes]:
        """(seconds to the last body byte, status code, body) of one request."""
        import io

        data = body.encode() if isinstance(body, str) else body
        environ = {
            "REQUEST_METHOD": method, "PATH_INFO": path, "SCRIPT_NAME": "", "QUERY_STRING": "",
            "SERVER_NAME": "localhost", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": "localhost", "HTTP_AUTHORIZATION": f"Token {self.token}",
            "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(data)),
            "wsgi.input": io.BytesIO(data), "wsgi.errors": sys.stderr, "wsgi.url_scheme": "http",
            "wsgi.version": (1, 0), "wsgi.multithread": False, "wsgi.multiprocess": True, "wsgi.run_once": False,
        }
        status: list[str] = []
        start = time.perf_counter()
        response = self.handler(environ, lambda s, headers, exc_info=None: status.append(s))
        content = b"".join(response)
        elapsed = time.perf_counter() - start
        response.close()
        return elapsed, int(status[0].split()[0]), content


def p50(samples: Sequence[float]) -> float:
    return statistics.median(samples)


def p95(samples: Sequence[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def commit_id() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A Markdown table (pasteable into the README), headed by the commit and date it was measured at."""
    print(f"\n### {title}  (commit {commit_id()}, {time.strftime('%Y-%m-%d')})\n")
    cells = [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in cells)) if cells else len(str(h)) for i, h in enumerate(headers)]
    print("| " + " | ".join(str(h).ljust(w) for h, w in zip(headers, widths, strict=True)) + " |")
    print("| " + " | ".join("-" * w for w in widths) + " |")
    for row in cells:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
    sys.stdout.flush()


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
