from rest_framework.routers import DefaultRouter

from apps.agents.views import AgentViewSet

router = DefaultRouter(trailing_slash=True)
router.register("agents", AgentViewSet, basename="agent")

urlpatterns = router.urls
