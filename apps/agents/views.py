"""Agent endpoints (agents, their sessions): thin; serializers validate, services write, selectors read."""

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
from apps.common.errors import NotFound, ValidationFailed
from apps.common.validation import parse_uuid

IF_MATCH = OpenApiParameter(
    "If-Match", OpenApiTypes.STR, OpenApiParameter.HEADER, required=False,
    description='ETag from a previous GET (e.g. W/"3"); alternative to the `version` body field.',
)
ERRORS = {400: OpenApiResponse(description="invalid input, the message names the field"),
          404: OpenApiResponse(description="no such agent")}


def _with_etag(response: Response, agent: Agent) -> Response:
    response["ETag"] = agent.etag
    return response


@extend_schema_view(
    list=extend_schema(tags=["agents"]),
    destroy=extend_schema(
        tags=["agents"], description="Hard delete; 409 while the agent has pending or running tasks.",
        responses={204: None, 404: ERRORS[404], 409: OpenApiResponse(description="agent has active tasks")},
    ),
)
class AgentViewSet(viewsets.GenericViewSet):
    serializer_class = AgentSerializer
    filterset_class = AgentFilter
    search_fields = ["name"]
    ordering_fields = ["name", "type", "status", "created_at", "updated_at"]
    ordering = ["-created_at"]

    def get_queryset(self):
        return selectors.agent_list()

    def get_object(self) -> Agent:
        return selectors.agent_get(agent_id=parse_uuid(self.kwargs["pk"]))

    def list(self, request: Request) -> Response:
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(AgentSerializer(page, many=True).data)

    @extend_schema(tags=["agents"], request=AgentCreateSerializer, responses={201: AgentSerializer, **ERRORS})
    def create(self, request: Request) -> Response:
        serializer = AgentCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        agent = services.agent_create(**serializer.validated_data)
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
        agent_id = parse_uuid(pk)
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
        agent = services.agent_update(agent_id=agent_id, expected_version=version, **changes)
        return _with_etag(Response(AgentSerializer(agent).data), agent)

    def destroy(self, request: Request, pk: str) -> Response:
        services.agent_delete(agent_id=parse_uuid(pk))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(tags=["agents"], responses={200: AgentStatsSerializer, 404: ERRORS[404]},
                   description="Tasks by status, success rate (completed / (completed + failed)), "
                               "mean and p95 duration of completed tasks in seconds, last activity.")
    @action(detail=True, methods=["get"])
    def stats(self, request: Request, pk: str) -> Response:
        return Response(selectors.agent_stats(agent_id=parse_uuid(pk)))


def _agent_or_404(agent_id: uuid.UUID) -> Agent:
    """The agent of a session route; its 404 names the `agent_id` path parameter."""
    try:
        return selectors.agent_get(agent_id=agent_id)
    except NotFound as exc:
        raise NotFound(exc.message, details={"agent_id": str(agent_id)}) from None


class AgentSessionView(APIView):
    """`session:{agent_id}` in Redis: GET reads, PUT creates/replaces, PATCH merges (extends TTL), DELETE ends."""

    @extend_schema(tags=["agent sessions"], responses={200: SessionOutSerializer, 404: None})
    def get(self, request: Request, agent_id: uuid.UUID) -> Response:
        _agent_or_404(agent_id)
        return Response(selectors.session_get(agent_id=agent_id))

    @extend_schema(tags=["agent sessions"], request=SessionSerializer, responses={200: SessionOutSerializer})
    def put(self, request: Request, agent_id: uuid.UUID) -> Response:
        _agent_or_404(agent_id)
        serializer = SessionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(services.session_put(agent_id=agent_id, **serializer.validated_data))

    @extend_schema(tags=["agent sessions"], request=SessionSerializer, responses={200: SessionOutSerializer})
    def patch(self, request: Request, agent_id: uuid.UUID) -> Response:
        _agent_or_404(agent_id)
        serializer = SessionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(services.session_update(agent_id=agent_id, **serializer.validated_data))

    @extend_schema(tags=["agent sessions"], responses={204: None, 404: None})
    def delete(self, request: Request, agent_id: uuid.UUID) -> Response:
        _agent_or_404(agent_id)
        services.session_end(agent_id=agent_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
