"""The collections API: CRUD by name, ingest, delete, search (single, batch, hybrid), index upkeep.

Every endpoint declares its scope (`memory:read` / `memory:write`), is throttled per key and
tenant, and finds its collection by name within the caller's tenant
(apps.tenants.selectors.request_tenant_id): another tenant's collection is a 404, the same answer
as a missing one. Embeddings are reached only through the collection found that way, so they
need no tenant of their own. The old `?tenant=` parameter chose the tenant before tenants
existed; it may now only repeat the caller's own tenant (400 otherwise, naming the header
operators use instead).
"""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework.response import Response

from apps.common.errors import ValidationFailed
from apps.common.validation import text_check
from apps.embeddings import serializers as s
from apps.embeddings.models import Collection, Embedding
from apps.embeddings.selectors.collections import collection_get, collection_list
from apps.embeddings.selectors.search import embedding_search, embedding_search_batch, search_params_parse
from apps.embeddings.services.collections import (
    collection_create,
    collection_delete,
    collection_index_rebuild,
    collection_update,
)
from apps.embeddings.services.deletion import embeddings_delete
from apps.embeddings.services.indexes import index_report
from apps.embeddings.services.ingest import embeddings_upsert
from apps.platform.http.parsers import VectorJSONParser
from apps.tenants.permissions import HasScopes
from apps.tenants.selectors import TENANT_HEADER, request_tenant_id, tenant_slug
from apps.tenants.throttling import TenantRateThrottle

# Vectors parsed straight into numpy (see parsers.py); forms for the browsable API's raw-data tab.
VECTOR_PARSERS = [VectorJSONParser, FormParser, MultiPartParser]

READ, WRITE = "memory:read", "memory:write"
# Scope per action; `embeddings` (GET lists, POST ingests) is decided by method in `required_scopes`.
SCOPES = {"list": READ, "retrieve": READ, "search": READ, "search_batch": READ, "stats": READ,
          "create": WRITE, "update": WRITE, "partial_update": WRITE, "destroy": WRITE,
          "delete_embeddings": WRITE, "rebuild_index": WRITE}


def _only_own_tenant(value: object, what: str, tenant_id: int | None) -> None:
    """A client-sent tenant (`?tenant=`, a body `tenant`) may only repeat the caller's own slug.

    It chose the tenant before tenants existed; now the credential does. Old clients that send
    their own (`?tenant=default` on a legacy token) keep working; anything else is a 400 that
    says how tenants are chosen now, compared as text so it says nothing of other tenants.
    """
    if value is None:
        return
    own = tenant_slug(tenant_id) if tenant_id is not None else None
    if value != own:
        raise ValidationFailed(
            f"{what}: deprecated; the tenant comes from the credential"
            + (f" and this one acts for {own!r}" if own else f", and operators name one with {TENANT_HEADER}"),
            code="tenant_parameter", details={"field": what})


class CollectionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                        mixins.UpdateModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """Collections of the caller's tenant, addressed by name (unique within a tenant)."""

    permission_classes = [HasScopes]
    throttle_classes = [TenantRateThrottle]
    serializer_class = s.CollectionSerializer
    lookup_field = "name"
    lookup_value_regex = r"[A-Za-z0-9][A-Za-z0-9_.\-]*"
    filterset_fields = ["metric", "index_type", "precision", "dimension"]
    search_fields = ["name"]
    ordering_fields = ["name", "created_at", "dimension"]

    @property
    def required_scopes(self) -> dict[str, str]:
        """SCOPES, with `embeddings` by method: listing rows reads, ingest writes."""
        method = getattr(getattr(self, "request", None), "method", "GET")
        return {**SCOPES, "embeddings": READ if method in SAFE_METHODS else WRITE}

    def tenant_id(self, *, required: bool = False) -> int | None:
        """The caller's tenant (None: an operator across tenants); a `?tenant=` may only repeat it."""
        tenant_id = request_tenant_id(self.request, required=required)
        _only_own_tenant(self.request.query_params.get("tenant"), "tenant", tenant_id)
        return tenant_id

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request, no tenant
            return Collection.objects.none()
        return collection_list(tenant_id=self.tenant_id())

    def get_object(self) -> Collection:
        return collection_get(name=self.kwargs["name"], tenant_id=self.tenant_id())

    def get_serializer_class(self):
        if self.action in ("update", "partial_update"):
            return s.CollectionUpdateSerializer
        return super().get_serializer_class()

    def perform_create(self, serializer) -> None:
        tenant_id = self.tenant_id(required=True)
        body_tenant = self.request.data.get("tenant") if isinstance(self.request.data, dict) else None
        _only_own_tenant(body_tenant, "tenant", tenant_id)
        serializer.instance = collection_create(tenant_id=tenant_id, **serializer.validated_data)

    def perform_update(self, serializer) -> None:
        serializer.instance = collection_update(collection=serializer.instance, **serializer.validated_data)

    def update(self, request: Request, *args, **kwargs) -> Response:
        super().update(request, *args, **kwargs)
        return Response(s.CollectionSerializer(self.get_object()).data)

    def perform_destroy(self, instance: Collection) -> None:
        collection_delete(collection=instance)

    @extend_schema(methods=["GET"], request=None, responses={200: s.EmbeddingSerializer(many=True)},
                   parameters=[OpenApiParameter("entity_type", str, description="only this entity type")],
                   summary="The collection's embeddings, without vectors, by entity")
    @extend_schema(methods=["POST"], request=s.IngestRequestSerializer,
                   responses={201: OpenApiResponse(s.IngestResponseSerializer, description="some rows inserted"),
                              200: OpenApiResponse(s.IngestResponseSerializer, description="rows updated only")},
                   summary="Upsert a batch of embeddings (all or nothing)")
    @action(detail=True, methods=["get", "post"], url_path="embeddings", parser_classes=VECTOR_PARSERS,
            filter_backends=[])  # the GET pages rows by `entity_type` only, not by the collection filters
    def embeddings(self, request: Request, name: str | None = None) -> Response:
        collection = self.get_object()
        if request.method == "GET":
            qs = Embedding.objects.filter(collection=collection).defer("vector").order_by("entity_type", "entity_id")
            entity_type = text_check("entity_type", request.query_params.get("entity_type"))
            if entity_type:
                qs = qs.filter(entity_type=entity_type)
            page = self.paginate_queryset(qs)
            return self.get_paginated_response(s.EmbeddingSerializer(page, many=True).data)
        items = request.data.get("items") if isinstance(request.data, dict) else None
        result = embeddings_upsert(collection=collection, items=items,
                                   max_items=settings.AGENCY_EMBEDDINGS_MAX_BATCH)
        code = status.HTTP_201_CREATED if result.inserted else status.HTTP_200_OK
        return Response(result.as_dict(), status=code)

    @extend_schema(request=s.DeleteRequestSerializer, responses={200: dict},
                   summary="Delete by ids, entities or filter")
    @action(detail=True, methods=["post"], url_path="embeddings/delete")
    def delete_embeddings(self, request: Request, name: str | None = None) -> Response:
        collection = self.get_object()
        data = request.data if isinstance(request.data, dict) else {}
        deleted = embeddings_delete(collection=collection, ids=data.get("ids"), entities=data.get("entities"),
                                    filter=data.get("filter"))
        return Response({"deleted": deleted})

    @extend_schema(request=s.SearchRequestSerializer, responses={200: s.SearchResponseSerializer},
                   summary="k nearest neighbours, filtered / hybrid / more-like-this; reports the plan")
    @action(detail=True, methods=["post"], url_path="search", parser_classes=VECTOR_PARSERS)
    def search(self, request: Request, name: str | None = None) -> Response:
        collection = self.get_object()
        params = search_params_parse(request.data, collection=collection)
        return Response(embedding_search(collection=collection, params=params))

    @extend_schema(request=s.BatchSearchRequestSerializer, responses={200: s.BatchSearchResponseSerializer},
                   summary="Many searches in one request")
    @action(detail=True, methods=["post"], url_path="search/batch", parser_classes=VECTOR_PARSERS)
    def search_batch(self, request: Request, name: str | None = None) -> Response:
        collection = self.get_object()
        queries = request.data.get("queries") if isinstance(request.data, dict) else None
        return Response({"results": embedding_search_batch(collection=collection, queries=queries)})

    @extend_schema(request=None, responses={202: dict}, summary="Rebuild the collection's indexes (operators)")
    @action(detail=True, methods=["post"], url_path="rebuild-index", permission_classes=[permissions.IsAdminUser])
    def rebuild_index(self, request: Request, name: str | None = None) -> Response:
        collection = self.get_object()
        collection_index_rebuild(collection=collection)
        return Response({"status": "scheduled"}, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={200: dict}, summary="Row count, index status, sizes and usage")
    @action(detail=True, methods=["get"], url_path="stats")
    def stats(self, request: Request, name: str | None = None) -> Response:
        collection = self.get_object()
        return Response({
            "rows": Embedding.objects.filter(collection=collection).count(),
            "index_status": collection.index_status,
            "indexes": index_report(collection=collection),
        })
