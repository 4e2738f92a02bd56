from importlib import import_module

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import APIRootView

from apps.common.views import HealthView, MeView

# The apps use SimpleRouter (no per-app root view, no `.json` format-suffix twins of every route):
# half the URL patterns for each request to try. One browsable root lists every app's resources.
_APPS = ["agents", "tasks", "embeddings", "cache", "migrations", "audit"]
_root = {prefix: f"{basename}-list" for app in _APPS
         for prefix, _viewset, basename in import_module(f"apps.{app}.urls").router.registry}

api_v1 = [
    path("", APIRootView.as_view(api_root_dict=_root), name="api-root"),
    path("me/", MeView.as_view(), name="me"),
    path("", include("apps.agents.urls")),
    path("", include("apps.tasks.urls")),
    path("", include("apps.embeddings.urls")),
    path("", include("apps.cache.urls")),
    path("", include("apps.migrations.urls")),
    path("", include("apps.audit.urls")),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("health/", HealthView.as_view(), name="health"),
    path("", include("django_prometheus.urls")),  # /metrics
]
