from rest_framework.routers import DefaultRouter

from apps.migrations.views import BackupViewSet, MaintenanceRunViewSet, MigrationRunViewSet

router = DefaultRouter(trailing_slash=True)
router.register("backups", BackupViewSet, basename="backup")
router.register("maintenance-runs", MaintenanceRunViewSet, basename="maintenancerun")
router.register("migration-runs", MigrationRunViewSet, basename="migrationrun")

urlpatterns = router.urls
