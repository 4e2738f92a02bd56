from rest_framework.routers import SimpleRouter

from apps.agents.views import AgentViewSet

router = SimpleRouter(trailing_slash=True)
router.register("", AgentViewSet, basename="agent")  # mounted at agents/ (agency/urls.py)

urlpatterns = router.urls
