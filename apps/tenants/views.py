"""Tenant admins manage their own tenant's API keys: /api/v1/keys/ (list, get, create, revoke, rotate).

Every action needs `tenant:admin` and acts on the caller's tenant only (`request_tenant_id`):
another tenant's key is a 404. Operators may use it across tenants, naming one with
`X-Agency-Tenant` (required to create). The DRF tokens of non-staff users (deprecated, acting for
`default`) may not manage keys: they never could, and minting keys is not data access.

A `tenant:admin` key may create and rotate `tenant:admin` keys. `tenant:admin` implies every
scope of its tenant already (apps/tenants/scopes.py), so a new admin key grants nothing its
maker lacks; refusing it would only leave a tenant unable to rotate its own admin key without
an operator. A leaked admin key is contained by revoking it and the keys it made (their
`created_by` is `api-key:<its prefix>`). No caller may grant a scope it does not hold (403).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apps.common.errors import NotFound
from apps.tenants import schema as _schema  # noqa: F401  (registers the Api-Key scheme with drf-spectacular)
from apps.tenants import selectors, services
from apps.tenants.models import ApiKey, Tenant
from apps.tenants.permissions import HasScopes
from apps.tenants.principals import ApiKeyPrincipal, is_operator
from apps.tenants.scopes import ALL_SCOPES, Scope
from apps.tenants.serializers import (
    ApiKeyCreatedSerializer,
    ApiKeyCreateSerializer,
    ApiKeyRotateSerializer,
    ApiKeySerializer,
)
from apps.tenants.throttling import TenantRateThrottle

TENANT_PARAM = OpenApiParameter(
    selectors.TENANT_HEADER, str, OpenApiParameter.HEADER, required=False,
    description="Operators only: the tenant to act for (required to create); keys act for their own.",
)
ERRORS = {400: OpenApiResponse(description="invalid input; the message names the field"),
          403: OpenApiResponse(description="missing scope tenant:admin, or a scope the caller does not hold"),
          404: OpenApiResponse(description="no such key in the caller's tenant")}


class KeyAdmins(HasScopes):
    """`HasScopes` (tenant:admin for keys, operators pass) minus the legacy DRF tokens of non-staff users."""

    def has_permission(self, request: Any, view: Any) -> bool:
        user = request.user
        if (user is not None and user.is_authenticated and not is_operator(user)
                and not isinstance(user, ApiKeyPrincipal)):
            self.message = (f"Managing API keys needs an API key with the scope {Scope.TENANT_ADMIN.value!r}, "
                            f"or an operator; DRF tokens may not.")
            return False
        return super().has_permission(request, view)


def _granted(request: Request) -> frozenset[str]:
    user = request.user
    return user.scopes if isinstance(user, ApiKeyPrincipal) else ALL_SCOPES  # operators hold every scope


def _actor(request: Request) -> str:
    user = request.user
    return user.username if isinstance(user, ApiKeyPrincipal) else f"user:{user.get_username()}"


def _created(api_key: ApiKey, raw: str) -> Response:
    body = {**ApiKeySerializer(api_key).data, "key": raw}  # the shape of ApiKeyCreatedSerializer
    return Response(body, status=status.HTTP_201_CREATED, headers={"Cache-Control": "no-store"})


@extend_schema_view(
    list=extend_schema(tags=["keys"], parameters=[TENANT_PARAM],
                       description="The tenant's keys, newest first (an operator naming no tenant: every tenant's)."),
    retrieve=extend_schema(tags=["keys"], parameters=[TENANT_PARAM], responses={200: ApiKeySerializer, **ERRORS}),
)
class ApiKeyViewSet(viewsets.GenericViewSet):
    permission_classes = [KeyAdmins]
    throttle_classes = [TenantRateThrottle]
    required_scopes = Scope.TENANT_ADMIN.value  # every action
    serializer_class = ApiKeySerializer
    queryset = ApiKey.objects.none()  # for the schema's types only: get_queryset() scopes by the caller's tenant
    lookup_field = "prefix"
    filterset_fields = ["revoked"]
    search_fields = ["name"]
    ordering_fields = ["created", "name", "expiry_date", "last_used_at"]
    ordering = ["-created"]

    def get_queryset(self):
        return selectors.api_key_list(tenant_id=selectors.request_tenant_id(self.request))

    def get_object(self) -> ApiKey:
        prefix = self.kwargs["prefix"]
        found = self.get_queryset().filter(prefix=prefix).first()
        if found is None:
            raise NotFound(f"API key {prefix!r} does not exist", code="unknown_api_key", details={"prefix": prefix})
        return found

    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(ApiKeySerializer(page, many=True).data)

    def retrieve(self, request: Request, prefix: str) -> Response:
        return Response(ApiKeySerializer(self.get_object()).data)

    @extend_schema(tags=["keys"], parameters=[TENANT_PARAM], request=ApiKeyCreateSerializer,
                   responses={201: ApiKeyCreatedSerializer, **ERRORS},
                   description="A new key for the caller's tenant; its text is in this response only.")
    def create(self, request: Request) -> Response:
        tenant = self._tenant(request)
        serializer = ApiKeyCreateSerializer(data=request.data, context={"tenant": tenant, "granted": _granted(request)})
        serializer.is_valid(raise_exception=True)
        api_key, raw = services.api_key_create(tenant=tenant, created_by=_actor(request), **serializer.validated_data)
        return _created(api_key, raw)

    @extend_schema(tags=["keys"], parameters=[TENANT_PARAM], request=None, responses={200: ApiKeySerializer, **ERRORS},
                   description="Refused from the next request on (401); cannot be undone. Idempotent.")
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, prefix: str) -> Response:
        api_key = services.api_key_revoke(api_key=self.get_object())
        return Response(ApiKeySerializer(api_key).data)

    @extend_schema(tags=["keys"], parameters=[TENANT_PARAM], request=ApiKeyRotateSerializer,
                   responses={201: ApiKeyCreatedSerializer, **ERRORS},
                   description="A successor with the same name and scopes; the old key keeps working until it is "
                               "revoked, so clients can move over. The new key's text is in this response only.")
    @action(detail=True, methods=["post"])
    def rotate(self, request: Request, prefix: str) -> Response:
        old = self.get_object()
        serializer = ApiKeyRotateSerializer(data=request.data, context={"api_key": old, "granted": _granted(request)})
        serializer.is_valid(raise_exception=True)
        new, raw = services.api_key_rotate(api_key=old, created_by=_actor(request), **serializer.validated_data)
        return _created(new, raw)

    def _tenant(self, request: Request) -> Tenant:
        return selectors.tenant_get(slug=selectors.tenant_slug(selectors.request_tenant_id(request, required=True)))
