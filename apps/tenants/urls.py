from rest_framework.routers import SimpleRouter

from apps.tenants.views import ApiKeyViewSet

router = SimpleRouter(trailing_slash=True)
router.register("", ApiKeyViewSet, basename="api-key")  # mounted at keys/ (agency/urls.py)

urlpatterns = router.urls
