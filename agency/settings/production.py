"""Production: every secret and URL must come from the environment; nothing embedded."""

import os

os.environ.setdefault("AGENCY_EMBEDDED", "false")

from .base import *  # noqa: E402, F403
from .environment import env  # noqa: E402

SECRET_KEY = env("DJANGO_SECRET_KEY")  # fails fast when missing
DEBUG = False
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=True)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True

# HTTPS. Behind a TLS-terminating proxy (the usual deployment) the request is HTTPS when the proxy
# says so in X-Forwarded-Proto: it must set that header itself and drop a client's; set
# DJANGO_SECURE_PROXY_SSL_HEADER=false when nothing in front sets it (then only TLS served by
# gunicorn counts). Plain-HTTP requests are redirected to https:// unless DJANGO_SECURE_SSL_REDIRECT
# is false (a proxy that redirects itself); /health/ and /metrics are exempt, for probes and
# scrapers that reach the process directly over HTTP.
SECURE_PROXY_SSL_HEADER = (("HTTP_X_FORWARDED_PROTO", "https")
                           if env.bool("DJANGO_SECURE_PROXY_SSL_HEADER", default=True) else None)
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
SECURE_REDIRECT_EXEMPT = [r"^health/$", r"^metrics$"]
# HSTS: browsers keep to HTTPS for this long (0 turns it off); subdomains included unless told not to.
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
# `preload` is an explicit opt-in: with it a domain may be submitted to the browsers' built-in
# HSTS list, which takes months to leave. Off by default, so its check (security.W021) is
# silenced here; DJANGO_SECURE_HSTS_PRELOAD=true sets it.
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)
SILENCED_SYSTEM_CHECKS = [*SILENCED_SYSTEM_CHECKS, "security.W021"]  # noqa: F405
