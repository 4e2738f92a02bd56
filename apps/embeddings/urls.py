from rest_framework.routers import SimpleRouter

from apps.embeddings.views import CollectionViewSet

router = SimpleRouter(trailing_slash=True)
router.register("collections", CollectionViewSet, basename="collection")

urlpatterns = router.urls
