"""Read-only API over backups, maintenance and migration runs, plus operator-only actions that enqueue work."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAdminUser, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse

from apps.migrations import selectors
from apps.migrations.serializers import (
    BackupSerializer,
    BackupStartSerializer,
    EnqueuedSerializer,
    MaintenanceRunSerializer,
    MaintenanceStartSerializer,
    MigrationRunSerializer,
)
from apps.migrations.services import dispatch


def _accepted(request: Request, *, task_id: str, run_id: object, route: str) -> Response:
    url = reverse(route, kwargs={"pk": run_id}, request=request)
    return Response({"task_id": task_id, "run_id": str(run_id), "run_url": url}, status=status.HTTP_202_ACCEPTED)


class OperatorActionsMixin:
    """Reads for any authenticated user; every POST action is for operators (staff) only."""

    def get_permissions(self):
        if self.request.method not in ("GET", "HEAD", "OPTIONS"):
            return [IsAdminUser()]
        return [IsAuthenticated()]


class BackupViewSet(OperatorActionsMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = BackupSerializer
    filterset_fields = ["kind", "status", "verification_ok"]
    ordering_fields = ["created_at", "size_bytes", "duration_seconds"]

    def get_queryset(self):
        return selectors.backup_list()

    @extend_schema(request=BackupStartSerializer, responses={202: EnqueuedSerializer})
    def create(self, request: Request, *args, **kwargs) -> Response:
        """Start a backup (operators): 202 with the Celery task id and the backup record to poll."""
        params = BackupStartSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        backup = dispatch.backup_enqueue(requested_by=request.user, kind=params.validated_data["kind"])
        return _accepted(request, task_id=backup.task_id, run_id=backup.pk, route="backup-detail")

    @extend_schema(request=BackupStartSerializer, responses={202: EnqueuedSerializer})
    @action(detail=False, methods=["post"])
    def start(self, request: Request) -> Response:
        return self.create(request)

    @extend_schema(request=None, responses={202: EnqueuedSerializer})
    @action(detail=True, methods=["post"])
    def verify(self, request: Request, pk: str | None = None) -> Response:
        """Verify a backup (operators): restore into a scratch database and compare with its manifest."""
        backup, task_id = dispatch.backup_verify_enqueue(backup_id=pk, requested_by=request.user)
        return _accepted(request, task_id=task_id, run_id=backup.pk, route="backup-detail")


class MaintenanceRunViewSet(OperatorActionsMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = MaintenanceRunSerializer
    filterset_fields = ["status", "dry_run"]
    ordering_fields = ["created_at", "duration_seconds"]

    def get_queryset(self):
        return selectors.maintenance_run_list()

    @extend_schema(request=MaintenanceStartSerializer, responses={202: EnqueuedSerializer})
    @action(detail=False, methods=["post"])
    def start(self, request: Request) -> Response:
        """Start a maintenance run (operators): 202 with the Celery task id and the run to poll."""
        params = MaintenanceStartSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        run = dispatch.maintenance_enqueue(requested_by=request.user, **params.validated_data)
        return _accepted(request, task_id=run.task_id, run_id=run.pk, route="maintenancerun-detail")


class MigrationRunViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = MigrationRunSerializer
    filterset_fields = ["status", "action", "dry_run"]
    ordering_fields = ["created_at", "duration_seconds"]

    def get_queryset(self):
        return selectors.migration_run_list()
