from django.urls import path
from rest_framework.routers import SimpleRouter

from apps.cache import views

# Mounted at cache/ (agency/urls.py). Agent sessions moved to apps.agents.urls.
router = SimpleRouter(trailing_slash=True)
router.register("warming-rules", views.WarmingRuleViewSet, basename="cache-warming-rule")
router.register("snapshots", views.CacheStatsSnapshotViewSet, basename="cache-snapshot")

urlpatterns = [
    path("stats/", views.CacheStatsView.as_view(), name="cache-stats"),
    path("invalidate/", views.CacheInvalidateView.as_view(), name="cache-invalidate"),
    path("warm/", views.CacheWarmView.as_view(), name="cache-warm"),
    *router.urls,
]

