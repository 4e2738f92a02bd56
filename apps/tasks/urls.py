from rest_framework.routers import SimpleRouter

from apps.tasks.views import TaskViewSet

router = SimpleRouter(trailing_slash=True)
router.register("", TaskViewSet, basename="task")  # mounted at tasks/ (agency/urls.py)

urlpatterns = router.urls
