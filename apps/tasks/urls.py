from rest_framework.routers import SimpleRouter

from apps.tasks.views import TaskViewSet

router = SimpleRouter(trailing_slash=True)
router.register("tasks", TaskViewSet, basename="task")

urlpatterns = router.urls
