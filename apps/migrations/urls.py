from rest_framework.routers import SimpleRouter

from apps.migrations.views import BackupViewSet, MaintenanceRunViewSet, MigrationRunViewSet

router = SimpleRouter(trailing_slash=True)
router.register("backups", BackupViewSet, basename="backup")
router.register("maintenance-runs", MaintenanceRunViewSet, basename="maintenancerun")
router.register("migration-runs", MigrationRunViewSet, basename="migrationrun")

urlpatterns = router.urls
