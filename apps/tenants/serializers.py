"""Shapes of API keys on the wire (/api/v1/keys/).

The request serializers are the one validator of a request: they check the types here and call
the domain's own checks (`services.api_key_check_new`, which the commands and the admin's form
run too) for scopes, expiry and the tenant, so a bad request is refused before anything is
written and the rules cannot drift apart. The services check again under the tenant's row lock.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rest_framework import exceptions, serializers

from apps.tenants.models import ApiKey
from apps.tenants.scopes import Scope, scope_granted
from apps.tenants.services import MAX_NAME, api_key_check_new

SCOPES_HELP = f"One or more of: {', '.join(Scope.values)}. `tenant:admin` implies every other scope."


class ApiKeySerializer(serializers.ModelSerializer):
    """A key as its tenant's admins see it: never the secret, nor its hash (the `id` holds the hash)."""

    tenant = serializers.CharField(source="tenant.slug", read_only=True, help_text="slug of the key's tenant")
    expired = serializers.BooleanField(source="has_expired", read_only=True)
    rotated_from = serializers.CharField(source="rotated_from.prefix", read_only=True, allow_null=True,
                                         help_text="prefix of the key this one was rotated from")

    class Meta:
        model = ApiKey
        fields = ["prefix", "name", "tenant", "scopes", "created", "expiry_date", "expired", "last_used_at",
                  "revoked", "revoked_at", "rotated_from", "created_by"]
        read_only_fields = fields


class ApiKeyCreatedSerializer(ApiKeySerializer):
    """The answer to a create or a rotate: the key's text appears here once and is stored nowhere."""

    key = serializers.CharField(read_only=True, help_text="The API key (`<prefix>.<secret>`); shown only in this "
                                                          "response. Send it as `Authorization: Api-Key <key>`.")

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]
        read_only_fields = fields


def _within_grant(scopes: Iterable[str], granted: Iterable[str]) -> None:
    """403 naming the scopes the caller would grant without holding them."""
    beyond = [s for s in scopes if not scope_granted(granted, s)]
    if beyond:
        raise exceptions.PermissionDenied(
            f"scopes: this credential may not grant {', '.join(repr(s) for s in beyond)}, which it does not hold")


class ApiKeyCreateSerializer(serializers.Serializer):
    """A new key for the caller's tenant."""

    # context: `tenant` (the Tenant the key is for) and `granted` (the scopes the caller holds).

    name = serializers.CharField(max_length=MAX_NAME, help_text="free text naming the key's user")
    scopes = serializers.ListField(child=serializers.CharField(max_length=32), allow_empty=False,
                                   help_text=SCOPES_HELP)
    expiry_date = serializers.DateTimeField(required=False, allow_null=True, default=None,
                                            help_text="ISO 8601, UTC unless it says otherwise; null: never expires")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs["scopes"] = api_key_check_new(tenant=self.context["tenant"], scopes=attrs["scopes"],
                                            expiry_date=attrs["expiry_date"])
        _within_grant(attrs["scopes"], self.context["granted"])
        return attrs


class ApiKeyRotateSerializer(serializers.Serializer):
    """A successor of the key; an empty body keeps the old key's expiry."""

    # context: `api_key` (the key to rotate) and `granted` (the scopes the caller holds).

    expiry_date = serializers.DateTimeField(required=False, allow_null=True,
                                            help_text="expiry of the new key; absent: the old key's; null: never")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        old: ApiKey = self.context["api_key"]
        api_key_check_new(tenant=old.tenant, scopes=old.scopes, expiry_date=attrs.get("expiry_date", old.expiry_date))
        _within_grant(old.scopes, self.context["granted"])
        return attrs
