from django.urls import path
from rest_framework.routers import SimpleRouter

from apps.cache import views

router = SimpleRouter(trailing_slash=True)
router.register("cache/warming-rules", views.WarmingRuleViewSet, basename="cache-warming-rule")
router.register("cache/snapshots", views.CacheStatsSnapshotViewSet, basename="cache-snapshot")

urlpatterns = [
    path("cache/stats/", views.CacheStatsView.as_view(), name="cache-stats"),
    path("cache/invalidate/", views.CacheInvalidateView.as_view(), name="cache-invalidate"),
    path("cache/warm/", views.CacheWarmView.as_view(), name="cache-warm"),
    path("agents/<uuid:agent_id>/session/", views.AgentSessionView.as_view(), name="agent-session"),
    *router.urls,
]
