"""Settings shared by every environment; configuration comes only from the environment (django-environ).

Infrastructure variables are unprefixed (DATABASE_URL, REDIS_URL, CELERY_BROKER_URL), Django's are
DJANGO_*, the project's own AGENCY_*. Every variable is listed in .env.example and the README.
Importing settings starts nothing: `environment.py` says how the embedded servers are found.
"""

from __future__ import annotations

from csp import constants as csp_constants

from .environment import (  # noqa: F401  (BASE_DIR/AGENCY_EMBEDDED* are settings too)
    AGENCY_DATA_DIR,
    AGENCY_EMBEDDED,
    AGENCY_EMBEDDED_EPHEMERAL,
    BASE_DIR,
    env,
    service_url,
)

SECRET_KEY = env("DJANGO_SECRET_KEY", default="")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "django_prometheus",
    "django_celery_beat",
    "django_celery_results",
    "auditlog",
    "rest_framework_api_key",
    "apps.common",
    "apps.platform",
    "apps.agents",
    "apps.tasks",
    "apps.embeddings",
    "apps.cache",
    "apps.migrations",
    "apps.audit",
    "apps.tenants",
    "apps.console",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "apps.platform.http.middleware.RequestSizeLimitMiddleware",
    # Row-level security: statements run under the request's tenant (apps/platform/db/tenancy.py).
    "apps.platform.http.middleware.TenantScopeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Content-Security-Policy on every response (CONTENT_SECURITY_POLICY below).
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Django's browser middlewares, passed by for token-authenticated API calls (apps/platform/http/middleware.py).
    "apps.platform.http.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "apps.platform.http.middleware.CsrfViewMiddleware",
    "apps.platform.http.middleware.AuthenticationMiddleware",
    "apps.platform.http.middleware.MessageMiddleware",
    "apps.platform.http.middleware.XFrameOptionsMiddleware",
    "apps.audit.middleware.AuditlogWritesMiddleware",
    "apps.audit.middleware.AccessLogMiddleware",
    "apps.platform.http.middleware.PrometheusAfterMiddleware",
]

# --- Browser security ------------------------------------------------------------------------
# Content-Security-Policy (django-csp): the admin and the Swagger UI (/api/docs/) are the only HTML
# pages. Scripts come from this site, Swagger UI's CDN (drf-spectacular's default assets) or carry
# the request's nonce (the one inline script, templates/drf_spectacular/swagger_ui.html); styles
# may be inline, as the admin's `style=` attributes are (a nonce would void 'unsafe-inline').
# No framing (as X-Frame-Options DENY), no plugins, forms post only here.
_CSP_CDN = "https://cdn.jsdelivr.net"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'", _CSP_CDN, csp_constants.NONCE],
        "style-src": ["'self'", _CSP_CDN, "'unsafe-inline'"],
        "img-src": ["'self'", "data:", _CSP_CDN],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}
# security.W002/W003 look for Django's own class paths in MIDDLEWARE; the stack has subclasses of
# both (apps.platform.http.middleware: they pass token-authenticated API calls by), and that module
# registers the same two checks accepting subclasses (platform.W002/W003), so nothing is lost.
SILENCED_SYSTEM_CHECKS = ["security.W002", "security.W003"]

ROOT_URLCONF = "agency.urls"
WSGI_APPLICATION = "agency.wsgi.application"
ASGI_APPLICATION = "agency.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- PostgreSQL (+ pgvector) ------------------------------------------------------------------
# Unset: the running embedded server of AGENCY_DATA_DIR (found, never started: environment.py).
DATABASE_URL = service_url("DATABASE_URL")
DATABASES = {"default": env.db_url_config(DATABASE_URL)}
DATABASES["default"]["ENGINE"] = "apps.platform.db.backend"  # django-prometheus' + the owner role
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DJANGO_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"]["OPTIONS"] = {"connect_timeout": 5}
# The task queue's hot statements run prepared (apps/platform/db/cursors.py); switch off behind a pooler
# that cannot keep prepared statements (PgBouncer in transaction mode before 1.21).
AGENCY_DB_PREPARED_STATEMENTS = env.bool("AGENCY_DB_PREPARED_STATEMENTS", default=True)
# Row-level security (apps/platform/db/tenancy.py): the role that owns the tables (migrations, DDL,
# upkeep and backups SET ROLE to it; the login role of DATABASE_URL must not own them), and how the
# tenant setting travels: `session` (direct connections) or `transaction` (PgBouncer, transaction mode).
AGENCY_DB_OWNER_ROLE = env("AGENCY_DB_OWNER_ROLE", default="agency_owner")
AGENCY_DB_TENANT_SETTING = env("AGENCY_DB_TENANT_SETTING", default="session")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache, sessions, locks, pub/sub, Celery broker -------------------------------------
REDIS_URL = service_url("REDIS_URL")
REDIS_CACHE_DB = env.int("AGENCY_REDIS_CACHE_DB", default=0)
REDIS_BROKER_DB = env.int("AGENCY_REDIS_BROKER_DB", default=1)


from .components.cache import two_level_options  # noqa: E402


def _redis_db(url: str, db: int) -> str:
    """REDIS_URL with a database number, unless the URL already names one."""
    base, _, tail = url.rstrip("/").rpartition("/")
    return url if tail.isdigit() and base.count("/") >= 2 else f"{url.rstrip('/')}/{db}"


# The two-level cache (L1 in each process + Redis, coherent across processes) is Django's default
# cache, so sessions, throttles, Celery and third-party apps use it too (apps/platform/cache/backends.py).
CACHES = {
    "default": {
        "BACKEND": "apps.platform.cache.backends.TwoLevelCache",
        "LOCATION": _redis_db(REDIS_URL, REDIS_CACHE_DB),
        "KEY_PREFIX": env("AGENCY_CACHE_PREFIX", default="agency"),
        "TIMEOUT": env.int("AGENCY_CACHE_TIMEOUT", default=300),
        "OPTIONS": {
            # django-redis (connections):
            "CLIENT_CLASS": "django_redis.client.DefaultClient",
            "SOCKET_CONNECT_TIMEOUT": 1,
            "SOCKET_TIMEOUT": 1,
            # the engine (L1, invalidation channel, limits), from AGENCY_CACHE_*:
            **two_level_options(),
        },
    },
}
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"

# --- Celery ----------------------------------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="") or _redis_db(REDIS_URL, REDIS_BROKER_DB)
CELERY_RESULT_BACKEND = "django-db"
CELERY_RESULT_EXTENDED = True
CELERY_CACHE_BACKEND = "default"
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_TASK_TIME_LIMIT = env.int("AGENCY_CELERY_TIME_LIMIT", default=30 * 60)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("AGENCY_CELERY_SOFT_TIME_LIMIT", default=25 * 60)
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# With acks_late a task must be re-delivered after a lost worker, but not while still running.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("AGENCY_CELERY_VISIBILITY_TIMEOUT", default=3600)}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"

# --- API -------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # `Authorization: Api-Key <key>`: a tenant's service (apps/tenants); refused by every endpoint
        # that does not declare scopes (KeysNeedScopes below).
        "apps.tenants.authentication.ApiKeyAuthentication",
        "apps.platform.http.authentication.PreparedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["apps.tenants.permissions.KeysNeedScopes"],
    # orjson: vector batches are megabytes of JSON floats (bench/embeddings.py measures the API ingest).
    "DEFAULT_PARSER_CLASSES": [
        "drf_orjson_renderer.parsers.ORJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_RENDERER_CLASSES": [
        "drf_orjson_renderer.renderers.ORJSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    # DRF's choices, with `Accept: */*` / `application/json` answered without parsing media types.
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "apps.platform.http.negotiation.ContentNegotiation",
    "DEFAULT_PAGINATION_CLASS": "apps.common.pagination.DefaultPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "apps.platform.http.errors.exception_handler",
    # Every view: per API key and tenant, per user, anonymous per address, at AGENCY_API_RATE or the
    # tenant's rate, counted in Redis (apps/tenants/throttling.py); /health/ opts out.
    "DEFAULT_THROTTLE_CLASSES": ["apps.tenants.throttling.TenantRateThrottle"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "agency API",
    "DESCRIPTION": "The data layer of the agent platform: agents, tasks, vector memory, cache, operations.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Bodies are JSON: the form parsers serve only the browsable API and are not offered to clients
    # (a generated client would send multipart otherwise); HTML is the browsable API's, not the API's.
    "PARSER_WHITELIST": ["drf_orjson_renderer.parsers.ORJSONParser", "apps.platform.http.parsers.VectorJSONParser"],
    "RENDERER_WHITELIST": ["drf_orjson_renderer.renderers.ORJSONRenderer"],
    # Two models have a `status`: named after their choices, not a hash (`StatusF64Enum`).
    "ENUM_NAME_OVERRIDES": {
        "AgentStatusEnum": "apps.agents.models.AgentStatus",
        "RunStatusEnum": "apps.migrations.models.RunStatus",
        "TaskStatusEnum": "apps.tasks.models.TaskStatus",
    },
    # The Error body on every operation's 4xx/5xx, and `XRequest` rather than `XRequestRequest` (apps/common/schema.py).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "apps.common.schema.postprocess_errors",
    ],
}
# Largest accepted request body; bigger ones get 413 (ingest batches are bounded separately).
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("AGENCY_MAX_REQUEST_BYTES", default=32 * 1024 * 1024)

# --- Health ----------------------------------------------------------------------------------
# Components whose failure makes /health/ answer 503.
AGENCY_HEALTH_REQUIRED = env.list("AGENCY_HEALTH_REQUIRED", default=["postgres", "redis", "celery"])
AGENCY_HEALTH_CELERY_TIMEOUT = env.float("AGENCY_HEALTH_CELERY_TIMEOUT", default=1.0)

# --- What is public (apps/console/permissions.py) -------------------------------------------------
# Without DEBUG only /health/'s status is public. /metrics is for operators and this bearer token
# (Prometheus: `authorization: {credentials: ...}`; empty: no token accepted); the API schema and
# docs for any authenticated caller. The two switches open them to everybody.
AGENCY_METRICS_TOKEN = env("AGENCY_METRICS_TOKEN", default="")
AGENCY_PUBLIC_METRICS = env.bool("AGENCY_PUBLIC_METRICS", default=False)
AGENCY_PUBLIC_API_DOCS = env.bool("AGENCY_PUBLIC_API_DOCS", default=False)

# --- Auth, i18n, static ----------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = AGENCY_DATA_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
LOGIN_URL = "/admin/login/"
WHITENOISE_USE_FINDERS = True  # serve admin/DRF assets even before collectstatic

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("DJANGO_LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# Models whose rows are read by id through apps.cache (invalidated on save/delete after commit).
AGENCY_CACHED_MODELS = ["agents.Agent", "tasks.Task", "embeddings.Collection"]

# --- per-app settings ------------------------------------------------------------------------
# Each app keeps its own settings in a component module, so that apps evolve without touching this file.
from .components.agents import *  # noqa: E402, F403
from .components.audit import *  # noqa: E402, F403
from .components.cache import *  # noqa: E402, F403
from .components.embeddings import *  # noqa: E402, F403
from .components.schema import *  # noqa: E402, F403
from .components.tasks import *  # noqa: E402, F403
from .components.tenants import *  # noqa: E402, F403
