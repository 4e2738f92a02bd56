from rest_framework.routers import SimpleRouter

from apps.audit.views import AccessLogViewSet, ChangeViewSet

router = SimpleRouter(trailing_slash=True)
router.register("audit/access-log", AccessLogViewSet, basename="access-log")
router.register("audit/changes", ChangeViewSet, basename="audit-change")

urlpatterns = router.urls
