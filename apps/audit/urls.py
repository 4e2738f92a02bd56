from rest_framework.routers import DefaultRouter

from apps.audit.views import AccessLogViewSet, ChangeViewSet

router = DefaultRouter(trailing_slash=True)
router.register("audit/access-log", AccessLogViewSet, basename="access-log")
router.register("audit/changes", ChangeViewSet, basename="audit-change")

urlpatterns = router.urls
