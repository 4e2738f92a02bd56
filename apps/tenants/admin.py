"""Operators' screens for tenants and API keys: filters, search, activate/deactivate, revoke and rotate.

The key admin reuses djangorestframework-api-key's `APIKeyModelAdmin`, which generates the key on
creation and shows it once in a message; the form adds this project's checks for a new key
(scopes, expiry in the future, active tenant) so the admin cannot make what the services refuse.
Revocation is an action (through the service), not a checkbox.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from rest_framework_api_key.admin import APIKeyModelAdmin
from rest_framework_api_key.models import APIKey

from apps.common.errors import DomainError
from apps.tenants.models import ApiKey, Tenant
from apps.tenants.services import (
    api_key_check_new,
    api_key_revoke,
    api_key_rotate,
    tenant_activate,
    tenant_create,
    tenant_deactivate,
    tenant_update,
)

# The library registers its own concrete model; this project uses `ApiKey` only.
if admin.site.is_registered(APIKey):
    admin.site.unregister(APIKey)

TENANT_FIELDS = ["slug", "name", "active", "max_collections", "max_embeddings", "max_pending_tasks", "request_rate"]


def actor_of(request: Any) -> str:
    return f"user:{request.user.get_username()}"


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "active", "max_collections", "max_embeddings", "max_pending_tasks",
                    "request_rate", "created_at"]
    list_filter = ["active"]
    search_fields = ["slug", "name"]
    readonly_fields = ["id", "created_at", "updated_at"]
    fields = [*TENANT_FIELDS, "id", "created_at", "updated_at"]
    actions = ["deactivate", "activate"]

    def get_readonly_fields(self, request: Any, obj: Tenant | None = None) -> list[str]:
        # The slug is how clients and operators name the tenant: fixed once made.
        return [*self.readonly_fields, "slug"] if obj is not None else list(self.readonly_fields)

    def save_model(self, request: Any, obj: Tenant, form: Any, change: bool) -> None:
        """Through the services, like the commands; the form already ran the model's validation."""
        data = {f: form.cleaned_data[f] for f in TENANT_FIELDS if f in form.cleaned_data}
        try:
            if change:
                data.pop("slug", None)
                saved = tenant_update(tenant=obj, **data)
            else:
                saved = tenant_create(**data)
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return
        for field in ("pk", "created_at", "updated_at"):
            setattr(obj, field, getattr(saved, field))
        obj._state.adding = False

    def _set_active(self, request: Any, queryset: Any, active: bool) -> None:
        for tenant in queryset:
            (tenant_activate if active else tenant_deactivate)(tenant=tenant)
        self.message_user(request, f"{queryset.count()} tenant(s) {'activated' if active else 'deactivated'}.")

    @admin.action(description="Deactivate selected tenants (their keys are refused at once)")
    def deactivate(self, request: Any, queryset: Any) -> None:
        self._set_active(request, queryset, False)

    @admin.action(description="Activate selected tenants")
    def activate(self, request: Any, queryset: Any) -> None:
        self._set_active(request, queryset, True)


class ApiKeyAdminForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(choices=ApiKey._meta.get_field("scopes").base_field.choices,
                                       widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = ApiKey
        fields = ["name", "tenant", "scopes", "expiry_date"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.instance._state.adding and cleaned.get("tenant") is not None:
            try:
                cleaned["scopes"] = api_key_check_new(tenant=cleaned["tenant"], scopes=cleaned.get("scopes") or [],
                                                      expiry_date=cleaned.get("expiry_date"))
            except DomainError as exc:
                raise forms.ValidationError(exc.message) from None
        return cleaned


@admin.register(ApiKey)
class ApiKeyAdmin(APIKeyModelAdmin):
    """The library's key admin (shows a new key once) with tenants, scopes, last use and rotation."""

    model = ApiKey
    form = ApiKeyAdminForm
    list_display = ["prefix", "name", "tenant", "scope_list", "created", "expiry_date", "_has_expired", "revoked",
                    "last_used_at", "rotated_from"]
    list_filter = ["tenant", "revoked", "created", "expiry_date", "last_used_at"]
    search_fields = ["prefix", "name", "tenant__slug", "tenant__name"]
    list_select_related = ["tenant", "rotated_from"]
    actions = ["revoke", "rotate"]

    def get_readonly_fields(self, request: Any, obj: Any = None) -> tuple[str, ...]:
        fields = (*super().get_readonly_fields(request, obj), "revoked", "revoked_at", "last_used_at",
                  "rotated_from", "created_by")
        # Another tenant for a live key would move its holder across tenants: make a new key instead.
        return (*fields, "tenant") if obj is not None else fields

    @admin.display(description="scopes")
    def scope_list(self, obj: ApiKey) -> str:
        return ", ".join(obj.scopes)

    def save_model(self, request: Any, obj: ApiKey, form: Any = None, change: bool = False) -> None:
        if not change:
            obj.created_by = actor_of(request)[:150]
        super().save_model(request, obj, form, change)

    @admin.action(description="Revoke selected API keys (refused from the next request on)")
    def revoke(self, request: Any, queryset: Any) -> None:
        for key in queryset:
            api_key_revoke(api_key=key)
        self.message_user(request, f"{queryset.count()} API key(s) revoked.")

    @admin.action(description="Rotate selected API keys (new keys shown once; revoke the old ones when moved)")
    def rotate(self, request: Any, queryset: Any) -> None:
        for key in queryset:
            try:
                new, raw = api_key_rotate(api_key=key, created_by=actor_of(request))
            except DomainError as exc:
                self.message_user(request, f"{key.prefix}: {exc.message}", messages.WARNING)
                continue
            self.message_user(request, f"The API key replacing {key.prefix} ({new.name}) is: {raw}. Store it "
                                       "somewhere safe: you will not be able to see it again.", messages.WARNING)
