"""API per-request overhead: `GET /api/v1/me/` through the whole Django stack (middleware, DRF
authentication, permission, renderer) in-process with the test Client, against a raw psycopg
`SELECT 1` round trip in the same run.

    python bench/api.py [--quick]

Rows: DRF's TokenAuthentication (one ORM token+user query per request) vs PreparedTokenAuthentication
(the same lookup as one prepared statement, not counted by the ORM's query log), then the prepared variant with
one middleware removed at a time, to show what each middleware costs per request, and with Django's,
django-prometheus's and DRF's stock classes in place of the project's shortcuts (browser
middlewares passed by token API calls, prometheus series looked up once, content negotiation). The ratio column
is the per-request cost in units of one raw DB round trip measured in the same run (the embeddings
benchmark's API/SQL ratio is that fixed cost added to the search query). Cache keys live under
their own prefix.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.harness import django_scratch_db, p50, p95, parse_args, print_table, psycopg_dsn, timed  # noqa: E402

os.environ["AGENCY_CACHE_PREFIX"] = f"agency-bench-{os.getpid()}"
os.environ.setdefault("AGENCY_API_RATE", "100000000/minute")  # every view is throttled: measure it, never hit it

AUDITLOG = "apps.audit.middleware.AuditlogWritesMiddleware"
ACCESS_LOG = "apps.audit.middleware.AccessLogMiddleware"
PROMETHEUS = ("django_prometheus.middleware.PrometheusBeforeMiddleware",
              "apps.platform.http.middleware.PrometheusAfterMiddleware")
# The project's subclasses (apps/platform/http/middleware.py) and the stock classes they stand for.
STOCK = {
    "apps.platform.http.middleware.SessionMiddleware": "django.contrib.sessions.middleware.SessionMiddleware",
    "apps.platform.http.middleware.CsrfViewMiddleware": "django.middleware.csrf.CsrfViewMiddleware",
    "apps.platform.http.middleware.AuthenticationMiddleware": "django.contrib.auth.middleware.AuthenticationMiddleware",
    "apps.platform.http.middleware.MessageMiddleware": "django.contrib.messages.middleware.MessageMiddleware",
    "apps.platform.http.middleware.XFrameOptionsMiddleware": "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "apps.platform.http.middleware.PrometheusAfterMiddleware": "django_prometheus.middleware.PrometheusAfterMiddleware",
}


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    n = 200 if args.quick else 2000
    rounds = 3 if args.quick else 5
    with django_scratch_db("api"):
        import psycopg
        from django.conf import settings
        from django.contrib.auth import get_user_model
        from django.db import connection
        from django.test import Client
        from django.test.utils import CaptureQueriesContext, override_settings
        from rest_framework.authentication import SessionAuthentication, TokenAuthentication
        from rest_framework.authtoken.models import Token
        from rest_framework.negotiation import DefaultContentNegotiation

        import apps.audit.services as audit_services
        from apps.console.views import MeView
        from apps.platform.http.authentication import PreparedTokenAuthentication

        # The access-log lines this bench produces go to a private list, deleted at the end.
        audit_services.BUFFER_KEY = f"{os.environ['AGENCY_CACHE_PREFIX']}:access-log"
        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
        user = get_user_model().objects.create_user(username="bench", password="pw-bench-123")
        token = Token.objects.create(user=user)
        header = {"HTTP_AUTHORIZATION": f"Token {token.key}"}
        base_mw = list(settings.MIDDLEWARE)

        raw = psycopg.connect(psycopg_dsn(), autocommit=True)

        def select_1() -> None:
            raw.execute("SELECT 1").fetchall()

        def variant(auth: type, drop: tuple[str, ...] = (), stock: bool = False):
            """A callable doing one request with this auth class and middleware list."""
            mw = [STOCK.get(m, m) if stock else m for m in base_mw if m not in drop]
            negotiation = DefaultContentNegotiation if stock else MeView.content_negotiation_class

            def run() -> None:
                MeView.authentication_classes = [auth, SessionAuthentication]
                MeView.content_negotiation_class = negotiation
                with override_settings(MIDDLEWARE=mw):
                    client = Client()
                    client.get("/api/v1/me/", **header)  # warm: middleware chain, prepared statement
                    with CaptureQueriesContext(connection) as ctx:
                        response = client.get("/api/v1/me/", **header)
                    assert response.status_code == 200, response.content
                    queries = len(ctx.captured_queries)
                    samples = timed(lambda: client.get("/api/v1/me/", **header), n // rounds)
                return samples, queries
            return run

        rows_spec = [
            ("/me/ DRF TokenAuthentication, all middleware", variant(TokenAuthentication)),
            ("/me/ PreparedTokenAuthentication, all middleware", variant(PreparedTokenAuthentication)),
            ("/me/ prepared, without AuditlogWritesMiddleware", variant(PreparedTokenAuthentication, (AUDITLOG,))),
            ("/me/ prepared, without AccessLogMiddleware", variant(PreparedTokenAuthentication, (ACCESS_LOG,))),
            ("/me/ prepared, without prometheus middleware", variant(PreparedTokenAuthentication, PROMETHEUS)),
            ("/me/ prepared, stock Django/prometheus/DRF classes", variant(PreparedTokenAuthentication, stock=True)),
            ("/me/ prepared, no middleware at all", variant(PreparedTokenAuthentication, tuple(base_mw))),
        ]
        base: list[float] = []
        results: dict[str, list[float]] = {name: [] for name, _ in rows_spec}
        queries: dict[str, int] = {}
        original = MeView.authentication_classes, MeView.content_negotiation_class
        try:
            for _ in range(rounds):  # alternate rounds so the shared machine's noise hits every row
                base += timed(select_1, n // rounds)
                for name, run in rows_spec:
                    samples, queries[name] = run()
                    results[name] += samples
        finally:
            MeView.authentication_classes, MeView.content_negotiation_class = original
            raw.close()
            from django_redis import get_redis_connection

            get_redis_connection("default").delete(audit_services.BUFFER_KEY)
        b50 = p50(base)
        rows = [["raw psycopg SELECT 1 (baseline)", len(base), 0, b50 * 1e3, p95(base) * 1e3, 1.0]]
        for name, samples in results.items():
            rows.append([name, len(samples), queries[name], p50(samples) * 1e3, p95(samples) * 1e3,
                         p50(samples) / b50])
        print_table("API per-request overhead (in-process test Client)",
                    ["path", "requests", "ORM queries/request", "p50 ms", "p95 ms", "p50 / SELECT 1"], rows)


if __name__ == "__main__":
    main()
