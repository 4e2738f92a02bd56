"""Production settings pass `manage.py check --deploy`; the HTML pages render under the Content-Security-Policy.

The check runs in a child process with the production settings module and the least environment
it requires (placeholder service URLs: `check` connects to nothing). The pages are fetched with
the test client as an admin, and every script on them must be allowed by the response's own
policy: from this site or a listed origin, or, inline, carrying the policy's nonce.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.test import override_settings

from apps.platform.http.middleware import check_browser_middleware

ROOT = Path(__file__).resolve().parents[1]


def _check_deploy(**extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "AGENCY_"))}
    env.update({
        "DJANGO_SETTINGS_MODULE": "agency.settings.production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "agency.example.com",
        "DATABASE_URL": "postgres://agency:secret@db.invalid:5432/agency",
        "REDIS_URL": "redis://redis.invalid:6379/0",
        **extra,
    })
    return subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_check_deploy_with_the_production_settings_reports_nothing():
    done = _check_deploy()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues" in done.stdout, done.stdout + done.stderr
    assert "WARNING" not in done.stdout + done.stderr


def test_hsts_and_the_ssl_redirect_are_set_by_the_environment():
    """Turned off (a proxy that redirects and sends HSTS itself), Django's checks say so: the
    variables reach the settings, and the clean run above is not a check that cannot fail."""
    done = _check_deploy(DJANGO_SECURE_SSL_REDIRECT="false", DJANGO_SECURE_HSTS_SECONDS="0")
    assert done.returncode != 0
    assert "security.W004" in done.stderr + done.stdout and "security.W008" in done.stderr + done.stdout


def test_the_middleware_checks_accept_subclasses_and_miss_nothing():
    assert check_browser_middleware() == []  # the stack's subclasses count
    without = [m for m in settings.MIDDLEWARE if not m.endswith(("CsrfViewMiddleware", "XFrameOptionsMiddleware"))]
    with override_settings(MIDDLEWARE=without):
        assert sorted(w.id for w in check_browser_middleware()) == ["platform.W002", "platform.W003"]
    stock = [m.replace("apps.platform.http.middleware.CsrfViewMiddleware", "django.middleware.csrf.CsrfViewMiddleware")
             for m in settings.MIDDLEWARE]
    with override_settings(MIDDLEWARE=stock):
        assert check_browser_middleware() == []


class _Scripts(HTMLParser):
    """Every <script>: its src (None inline), nonce and type."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "script":
            self.scripts.append(dict(attrs))


def _policy(response) -> dict[str, list[str]]:
    header = response.headers.get("Content-Security-Policy")
    assert header, f"no Content-Security-Policy on {response.request['PATH_INFO']}"
    directives = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def _assert_scripts_allowed(response) -> int:
    policy = _policy(response)
    allowed = policy["script-src"]
    nonces = {v[len("'nonce-"):-1] for v in allowed if v.startswith("'nonce-")}
    parser = _Scripts()
    parser.feed(response.content.decode())
    executed = [s for s in parser.scripts if s.get("type", "text/javascript") in ("text/javascript", "module")]
    for script in executed:
        src = script.get("src")
        if src is None:
            assert script.get("nonce") in nonces, f"inline script without the policy's nonce: {script}"
            continue
        origin = urlsplit(src)
        if origin.netloc:
            assert f"{origin.scheme}://{origin.netloc}" in allowed, f"{src} not in script-src {allowed}"
        else:
            assert "'self'" in allowed
    assert policy["frame-ancestors"] == ["'none'"] and policy["object-src"] == ["'none'"]
    return len(executed)


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/admin/login/", "/admin/", "/admin/auth/user/", "/admin/auth/user/add/"])
def test_admin_pages_render_under_the_policy(admin_client, client, path):
    response = (client if path == "/admin/login/" else admin_client).get(path)
    assert response.status_code == 200
    assert b"Django" in response.content or b"agency" in response.content.lower()
    assert _assert_scripts_allowed(response) >= (0 if path == "/admin/login/" else 1)
    style = _policy(response)["style-src"]
    assert "'unsafe-inline'" in style and not any(v.startswith("'nonce-") for v in style)  # style= attributes


@pytest.mark.django_db
def test_swagger_ui_renders_under_the_policy(admin_client):
    response = admin_client.get("/api/docs/", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert b'id="swagger-ui"' in response.content
    assert _assert_scripts_allowed(response) == 3  # bundle, standalone preset, the inline initialiser
    inline = re.search(rb'<script nonce="([^"]+)">\s*"use strict";', response.content)
    assert inline, "the initialiser is inline and carries the nonce"
    assert f"'nonce-{inline.group(1).decode()}'" in _policy(response)["script-src"]
    assert "'self'" in _policy(response)["connect-src"]  # the page fetches /api/schema/
