from rest_framework.routers import SimpleRouter

from apps.embeddings.views import CollectionViewSet

router = SimpleRouter(trailing_slash=True)
router.register("", CollectionViewSet, basename="collection")  # mounted at collections/ (agency/urls.py)

urlpatterns = router.urls
