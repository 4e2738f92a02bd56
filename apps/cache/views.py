"""Cache endpoints: stats, invalidation, warming, warming rules, stats snapshots. Thin views.

None of them is tenant-scoped: the cache, its stats, its rules and its snapshots are one per
deployment (every tenant's keys, hit rates and key patterns), so they declare no scope and no API
key reaches them (403 "declares no scope", from the default KeysNeedScopes); operators manage
them, and the legacy DRF-token users keep the read access they had. Invalidation by tag for a
tenant's own keys would need tenant-prefixed keys first (see the #13 report).
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.cache import selectors, services
from apps.cache.models import WarmingRule
from apps.cache.serializers import (
    CacheStatsSnapshotSerializer,
    InvalidateSerializer,
    WarmingRuleSerializer,
    WarmSerializer,
)
from apps.cache.tasks import cache_warm_task
from apps.tenants.permissions import KeysNeedScopes


class IsOperatorOrReadOnly(permissions.BasePermission):
    """Any authenticated user may read; only operators (staff) may write (keys: see KeysNeedScopes first)."""

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        return request.method in permissions.SAFE_METHODS or request.user.is_staff


class CacheStatsView(APIView):
    @extend_schema(tags=["cache"], responses={200: OpenApiResponse(description="process, cluster and redis stats")})
    def get(self, request: Request) -> Response:
        return Response(services.cache_stats())


class CacheInvalidateView(APIView):
    permission_classes = [permissions.IsAdminUser]

    @extend_schema(tags=["cache"], request=InvalidateSerializer,
                   responses={200: OpenApiResponse(description='{"deleted": n}'), 400: None, 403: None})
    def post(self, request: Request) -> Response:
        serializer = InvalidateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response({"deleted": services.cache_invalidate(**serializer.validated_data)})


class CacheWarmView(APIView):
    permission_classes = [permissions.IsAdminUser]

    @extend_schema(tags=["cache"], request=WarmSerializer, responses={202: None})
    def post(self, request: Request) -> Response:
        serializer = WarmSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        cache_warm_task.delay_on_commit(limit=serializer.validated_data.get("limit"))
        return Response({"queued": True}, status=status.HTTP_202_ACCEPTED)


@extend_schema_view(list=extend_schema(tags=["cache"]), retrieve=extend_schema(tags=["cache"]),
                    create=extend_schema(tags=["cache"]), partial_update=extend_schema(tags=["cache"]),
                    update=extend_schema(tags=["cache"]), destroy=extend_schema(tags=["cache"]))
class WarmingRuleViewSet(viewsets.ModelViewSet):
    serializer_class = WarmingRuleSerializer
    # KeysNeedScopes first: the rules' key patterns are deployment-wide, so API keys get the 403.
    permission_classes = [KeysNeedScopes, IsOperatorOrReadOnly]
    filterset_fields = ["enabled", "model_label"]
    search_fields = ["name", "model_label", "key_pattern"]
    ordering_fields = ["name", "priority", "created_at"]
    ordering = ["-priority", "name"]

    def get_queryset(self):
        return selectors.warming_rule_list()

    def get_object(self) -> WarmingRule:
        return selectors.warming_rule_get(rule_id=self.kwargs["pk"])

    def perform_create(self, serializer) -> None:
        serializer.instance = services.warming_rule_create(**serializer.validated_data)

    def perform_update(self, serializer) -> None:
        serializer.instance = services.warming_rule_update(rule=serializer.instance, **serializer.validated_data)

    def perform_destroy(self, instance: WarmingRule) -> None:
        services.warming_rule_delete(rule=instance)


@extend_schema_view(list=extend_schema(tags=["cache"]), retrieve=extend_schema(tags=["cache"]))
class CacheStatsSnapshotViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = CacheStatsSnapshotSerializer
    filterset_fields = ["redis_up"]
    ordering_fields = ["created_at", "hit_rate"]
    ordering = ["-created_at"]

    def get_queryset(self):
        return selectors.stats_snapshot_list()

    @extend_schema(tags=["cache"], request=None, responses={201: CacheStatsSnapshotSerializer})
    @action(detail=False, methods=["post"], permission_classes=[permissions.IsAdminUser])
    def capture(self, request: Request) -> Response:
        snapshot = services.stats_snapshot_create()
        return Response(CacheStatsSnapshotSerializer(snapshot).data, status=status.HTTP_201_CREATED)
