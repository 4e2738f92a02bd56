from rest_framework.routers import DefaultRouter

from apps.embeddings.views import CollectionViewSet

router = DefaultRouter(trailing_slash=True)
router.register("collections", CollectionViewSet, basename="collection")

urlpatterns = router.urls
