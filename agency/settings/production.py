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
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
