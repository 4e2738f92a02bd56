from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from apps.common.views import HealthView, MeView

api_v1 = [
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
