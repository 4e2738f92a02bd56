from importlib import import_module

from django.contrib import admin
from django.urls import include, path
from rest_framework.routers import APIRootView

from apps.console.views import ApiDocsView, HealthView, MetricsView, MeView, SchemaView

# The apps use SimpleRouter (no per-app root view, no `.json` format-suffix twins of every route),
# and each app with one path prefix is mounted under it, so that resolving a request tries one
# prefix per app instead of every route of every app before it (measured here, best of 15: a
# search URL 38 -> 32 us, `/backups/` after every mounted app 50 -> 27 us). One browsable root
# lists every app's resources.
_MOUNTS = [("agents", "agents"), ("tasks", "tasks"), ("collections", "embeddings"), ("cache", "cache"),
           ("audit", "audit"), ("keys", "tenants"), ("", "migrations")]  # (path prefix, app); migrations has three
_root = {"/".join(filter(None, (mount, prefix))): f"{basename}-list" for mount, app in _MOUNTS
         for prefix, _viewset, basename in import_module(f"apps.{app}.urls").router.registry}

api_v1 = [
    path("", APIRootView.as_view(api_root_dict=_root), name="api-root"),
    path("me/", MeView.as_view(), name="me"),
    *(path(f"{mount}/" if mount else "", include(f"apps.{app}.urls")) for mount, app in _MOUNTS),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    # Public in production: /health/'s status only; the rest needs a credential or a setting
    # (apps/console/permissions.py).
    path("api/schema/", SchemaView.as_view(), name="schema"),
    path("api/docs/", ApiDocsView.as_view(url_name="schema"), name="api-docs"),
    path("health/", HealthView.as_view(), name="health"),
    path("metrics", MetricsView.as_view(), name="prometheus-django-metrics"),  # django-prometheus' view, guarded
]
# /api/ paths answer 500/503 in the one JSON error body, never Django's HTML page (the view is in the
# platform's HTTP layer with DRF's handler).
handler500 = "apps.platform.http.errors.server_error"
handler404 = "apps.platform.http.errors.page_not_found"
