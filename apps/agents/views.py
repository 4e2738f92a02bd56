"""Agent endpoints (agents, their sessions): thin; serializers validate, services write, selectors read.

Every endpoint declares its scope (`agents:read` / `agents:write`; sessions as agents), is
throttled per key and tenant, and hands the caller's tenant (apps.tenants.selectors
.request_tenant_id) to the selector or service, which filters by it.
"""

from __future__ import annotations

import uuid

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.agents import selectors, services
from apps.agents.filters import AgentFilter
from apps.agents.models import Agent
from apps.agents.serializers import (
    AgentCreateSerializer,
    AgentSerializer,
    AgentStatsSerializer,
    AgentUpdateSerializer,
    SessionOutSerializer,
    SessionSerializer,
)
from apps.common.errors import ValidationFailed
from apps.common.validation import parse_uuid
from apps.tenants.permissions import HasScopes
from apps.tenants.selectors import request_tenant_id, tenant_slug
from apps.tenants.throttling import TenantRateThrottle

IF_MATCH = OpenApiParameter(
    "If-Match", OpenApiTypes.STR, OpenApiParameter.HEADER, required=False,
    description='ETag from a previous GET (e.g. W/"3"); alternative to the `version` body field.',
)
ERRORS = {400: OpenApiResponse(description="invalid input, the message names the field"),
          404: OpenApiResponse(description="no such agent")}


def _with_etag(response: Response, agent: Agent) -> Response:
    response["ETag"] = agent.etag
    return response


def _drop_namespace(data: dict, tenant_id: int) -> dict:
    """Remove the deprecated `namespace` field, which may only repeat the agent's tenant slug.

    Namespaces became tenants (migration agents.0003), and a tenant comes from the credential:
    a client that still sends its old `"namespace": "default"` keeps working, and one that asks for
    another namespace learns with a 400 that it cannot choose.
    """
    namespace = data.pop("namespace", None)
    if namespace is not None and namespace != tenant_slug(tenant_id):
        raise ValidationFailed(
            f"namespace: deprecated, and it may only repeat this agent's tenant {tenant_slug(tenant_id)!r}; "
            f"namespaces are tenants now, and the tenant comes from the credential", details={"field": "namespace"})
    return data


@extend_schema_view(
    list=extend_schema(tags=["agents"]),
    destroy=extend_schema(
        tags=["agents"], description="Hard delete; 409 while the agent has pending or running tasks.",
        responses={204: None, 404: ERRORS[404], 409: OpenApiResponse(description="agent has active tasks")},
    ),
)
class AgentViewSet(viewsets.GenericViewSet):
    permission_classes = [HasScopes]
    throttle_classes = [TenantRateThrottle]
    required_scopes = {"list": "agents:read", "retrieve": "agents:read", "stats": "agents:read",
                       "create": "agents:write", "partial_update": "agents:write", "destroy": "agents:write"}
    serializer_class = AgentSerializer
    filterset_class = AgentFilter
    search_fields = ["name"]
    ordering_fields = ["name", "type", "status", "created_at", "updated_at"]
    ordering = ["-created_at"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request, no tenant
            return Agent.objects.none()
        return selectors.agent_list(tenant_id=request_tenant_id(self.request))

    def get_object(self) -> Agent:
        return selectors.agent_get(agent_id=parse_uuid(self.kwargs["pk"]), tenant_id=request_tenant_id(self.request))

    def list(self, request: Request) -> Response:
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(AgentSerializer(page, many=True).data)

    @extend_schema(tags=["agents"], request=AgentCreateSerializer, responses={201: AgentSerializer, **ERRORS})
    def create(self, request: Request) -> Response:
        serializer = AgentCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        tenant_id = request_tenant_id(request, required=True)
        agent = services.agent_create(tenant_id=tenant_id, **_drop_namespace(dict(serializer.validated_data),
                                                                               tenant_id))
        return _with_etag(Response(AgentSerializer(agent).data, status=status.HTTP_201_CREATED), agent)

    @extend_schema(tags=["agents"], responses={200: AgentSerializer, 404: ERRORS[404]},
                   description="The response carries `ETag: W/\"<version>\"` for If-Match.")
    def retrieve(self, request: Request, pk: str) -> Response:
        agent = self.get_object()
        return _with_etag(Response(AgentSerializer(agent).data), agent)

    @extend_schema(
        tags=["agents"], request=AgentUpdateSerializer, parameters=[IF_MATCH],
        responses={200: AgentSerializer, **ERRORS,
                   409: OpenApiResponse(description="stale version; details.current_version")},
        description="Optimistic locking: send the `version` you read, or `If-Match` with the ETag. "
                    "A stale version gets 409 with `details.current_version` and changes nothing.",
    )
    def partial_update(self, request: Request, pk: str) -> Response:
        agent_id, tenant_id = parse_uuid(pk), request_tenant_id(request)
        serializer = AgentUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        changes = dict(serializer.validated_data)
        version = changes.pop("version", None)
        header_version = services.parse_if_match(request.headers.get("If-Match"))
        if version is None:
            version = header_version
        elif header_version is not None and header_version != version:
            raise ValidationFailed(f"version: the body says {version} but If-Match says {header_version}",
                                   details={"field": "version"})
        if version is None:
            raise ValidationFailed("version: required (the version you read, or an If-Match header)",
                                   details={"field": "version"})
        if "namespace" in changes:
            current = selectors.agent_get(agent_id=agent_id, tenant_id=tenant_id)  # 404 before 400
            _drop_namespace(changes, current.tenant_id)
        agent = services.agent_update(agent_id=agent_id, tenant_id=tenant_id, expected_version=version, **changes)
        return _with_etag(Response(AgentSerializer(agent).data), agent)

    def destroy(self, request: Request, pk: str) -> Response:
        services.agent_delete(agent_id=parse_uuid(pk), tenant_id=request_tenant_id(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(tags=["agents"], responses={200: AgentStatsSerializer, 404: ERRORS[404]},
                   description="Tasks by status, success rate (completed / (completed + failed)), "
                               "mean and p95 duration of completed tasks in seconds, last activity.")
    @action(detail=True, methods=["get"])
    def stats(self, request: Request, pk: str) -> Response:
        return Response(selectors.agent_stats(agent_id=parse_uuid(pk), tenant_id=request_tenant_id(request)))


class AgentSessionView(APIView):
    """`session:{agent_id}` in Redis: GET reads, PUT creates/replaces, PATCH merges (extends TTL), DELETE ends.

    The selector and services check that the agent is in the caller's tenant first (404 naming
    `agent_id` otherwise): the Redis key names the agent only.
    """

    permission_classes = [HasScopes]
    throttle_classes = [TenantRateThrottle]
    required_scopes = {"GET": "agents:read", "PUT": "agents:write", "PATCH": "agents:write",
                       "DELETE": "agents:write"}

    @extend_schema(tags=["agent sessions"], responses={200: SessionOutSerializer, 404: None})
    def get(self, request: Request, agent_id: uuid.UUID) -> Response:
        return Response(selectors.session_get(agent_id=agent_id, tenant_id=request_tenant_id(request)))

    @extend_schema(tags=["agent sessions"], request=SessionSerializer, responses={200: SessionOutSerializer})
    def put(self, request: Request, agent_id: uuid.UUID) -> Response:
        serializer = SessionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(services.session_put(agent_id=agent_id, tenant_id=request_tenant_id(request),
                                             **serializer.validated_data))

    @extend_schema(tags=["agent sessions"], request=SessionSerializer, responses={200: SessionOutSerializer})
    def patch(self, request: Request, agent_id: uuid.UUID) -> Response:
        serializer = SessionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(services.session_update(agent_id=agent_id, tenant_id=request_tenant_id(request),
                                                **serializer.validated_data))

    @extend_schema(tags=["agent sessions"], responses={204: None, 404: None})
    def delete(self, request: Request, agent_id: uuid.UUID) -> Response:
        services.session_end(agent_id=agent_id, tenant_id=request_tenant_id(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
