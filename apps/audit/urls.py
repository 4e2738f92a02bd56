from rest_framework.routers import SimpleRouter

from apps.audit.views import AccessLogViewSet, AuditEntryViewSet, ChangeViewSet

router = SimpleRouter(trailing_slash=True)
# Mounted at audit/ (agency/urls.py).
router.register("entries", AuditEntryViewSet, basename="audit-entry")
router.register("access-log", AccessLogViewSet, basename="access-log")
router.register("changes", ChangeViewSet, basename="audit-change")

urlpatterns = router.urls
