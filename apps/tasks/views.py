"""Task endpoints: history, create, retrieve, and the worker protocol (claim → heartbeat → complete/fail).

Every action declares its scope (`tasks:read` to look, `tasks:write` to create and manage,
`tasks:work` for the worker protocol), is throttled per key and tenant, and hands the caller's
tenant (apps.tenants.selectors.request_tenant_id) to the selector or service, which filters by it.
The worker protocol also hands over the caller's credential, which the lease is bound to.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response

from apps.common.validation import parse_uuid
from apps.tasks import selectors, services
from apps.tasks.filters import TaskFilter
from apps.tasks.models import Task
from apps.tasks.serializers import (
    TaskClaimResponseSerializer,
    TaskClaimSerializer,
    TaskCompleteSerializer,
    TaskCreateSerializer,
    TaskFailSerializer,
    TaskHeartbeatSerializer,
    TaskSerializer,
)
from apps.tenants.permissions import HasScopes
from apps.tenants.principals import credential_id
from apps.tenants.selectors import request_tenant_id
from apps.tenants.throttling import TenantRateThrottle

CONFLICT = OpenApiResponse(description="illegal transition (details.current/requested) or lease held by another worker")
NOT_FOUND = OpenApiResponse(description="no such task (or one of another tenant)")
BAD = OpenApiResponse(description="invalid input, the message names the field")


def _worker_action(request_serializer, summary: str):
    return extend_schema(tags=["tasks"], summary=summary, request=request_serializer,
                         responses={200: TaskSerializer, 400: BAD, 404: NOT_FOUND, 409: CONFLICT})


@extend_schema_view(list=extend_schema(tags=["tasks"]), retrieve=extend_schema(tags=["tasks"]))
class TaskViewSet(viewsets.GenericViewSet):
    permission_classes = [HasScopes]
    throttle_classes = [TenantRateThrottle]
    required_scopes = {
        "list": "tasks:read", "retrieve": "tasks:read",
        "create": "tasks:write", "cancel": "tasks:write", "retry": "tasks:write",
        "claim": "tasks:work", "heartbeat": "tasks:work", "complete": "tasks:work", "fail": "tasks:work",
        # requeue: undeclared, so operators only (and IsAdminUser on the action)
    }
    serializer_class = TaskSerializer
    filterset_class = TaskFilter
    search_fields = ["type"]
    ordering_fields = ["created_at", "updated_at", "priority", "status", "type"]
    ordering = ["-created_at"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request, no tenant
            return Task.objects.none()
        return selectors.task_list(tenant_id=request_tenant_id(self.request))

    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(TaskSerializer(page, many=True).data)

    def retrieve(self, request: Request, pk: str) -> Response:
        task = selectors.task_get(task_id=parse_uuid(pk), tenant_id=request_tenant_id(request))
        return Response(TaskSerializer(task).data)

    @extend_schema(tags=["tasks"], request=TaskCreateSerializer,
                   responses={201: TaskSerializer, 400: BAD, 413: OpenApiResponse(description="data too large")})
    def create(self, request: Request) -> Response:
        serializer = TaskCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        task = services.task_create(tenant_id=request_tenant_id(request), **serializer.validated_data)
        return Response(TaskSerializer(task).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        tags=["tasks"], request=TaskClaimSerializer, responses={200: TaskClaimResponseSerializer, 400: BAD},
        summary="Claim up to `limit` due pending tasks under a lease",
        description="Highest priority first, then oldest; atomically marked running with a lease "
                    "(`SELECT … FOR UPDATE SKIP LOCKED`), so concurrent claimers never get the same task. "
                    "An empty list means nothing is due.",
    )
    @action(detail=False, methods=["post"])
    def claim(self, request: Request) -> Response:
        serializer = TaskClaimSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        tasks = services.task_claim(
            tenant_id=request_tenant_id(request), credential=credential_id(request.user),
            worker_id=data["worker_id"], types=data.get("types") or None, limit=data["limit"],
            lease_seconds=data["lease_seconds"], agent_id=data["agent_id"],
        )
        return Response({"tasks": TaskSerializer(tasks, many=True).data})

    def _lease_holder_call(self, request: Request, pk: str, serializer_class: type, service) -> Response:
        """Validate the worker's body, call the lease-holder service, answer with the task."""
        serializer = serializer_class(data=request.data)
        serializer.is_valid(raise_exception=True)
        task = service(tenant_id=request_tenant_id(request), credential=credential_id(request.user),
                       task_id=parse_uuid(pk), **serializer.validated_data)
        return Response(TaskSerializer(task).data)

    @_worker_action(TaskHeartbeatSerializer, "Extend the lease (lease holder only)")
    @action(detail=True, methods=["post"])
    def heartbeat(self, request: Request, pk: str) -> Response:
        return self._lease_holder_call(request, pk, TaskHeartbeatSerializer, services.task_heartbeat)

    @_worker_action(TaskCompleteSerializer, "Store the result and complete (lease holder only)")
    @action(detail=True, methods=["post"])
    def complete(self, request: Request, pk: str) -> Response:
        return self._lease_holder_call(request, pk, TaskCompleteSerializer, services.task_complete)

    @_worker_action(TaskFailSerializer, "Record a failure: re-queue with backoff or mark failed (lease holder only)")
    @action(detail=True, methods=["post"])
    def fail(self, request: Request, pk: str) -> Response:
        return self._lease_holder_call(request, pk, TaskFailSerializer, services.task_fail)

    @_worker_action(None, "Cancel a pending or running task")
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        task = services.task_cancel(tenant_id=request_tenant_id(request), task_id=parse_uuid(pk))
        return Response(TaskSerializer(task).data)

    @_worker_action(None, "Retry a failed or cancelled task (attempts reset)")
    @action(detail=True, methods=["post"])
    def retry(self, request: Request, pk: str) -> Response:
        task = services.task_retry(tenant_id=request_tenant_id(request), task_id=parse_uuid(pk))
        return Response(TaskSerializer(task).data)

    @_worker_action(None, "Operator: take a running task from its worker and queue it again")
    @action(detail=True, methods=["post"], permission_classes=[IsAdminUser])
    def requeue(self, request: Request, pk: str) -> Response:
        task = services.task_requeue(tenant_id=request_tenant_id(request), task_id=parse_uuid(pk))
        return Response(TaskSerializer(task).data)
