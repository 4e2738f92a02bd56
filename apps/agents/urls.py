from django.urls import path
from rest_framework.routers import SimpleRouter

from apps.agents.views import AgentSessionView, AgentViewSet

router = SimpleRouter(trailing_slash=True)
router.register("", AgentViewSet, basename="agent")  # mounted at agents/ (agency/urls.py)

urlpatterns = [
    *router.urls,
    path("<uuid:agent_id>/session/", AgentSessionView.as_view(), name="agent-session"),
]
