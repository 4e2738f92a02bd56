from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from apps.audit.models import AccessLog, AuditEntry


@admin.register(AccessLog)
class AccessLogAdmin(admin.ModelAdmin):
    """Read-only: the access log is evidence, operators filter it but never edit it."""

    list_display = ("timestamp", "method", "path", "status_code", "error_code", "hits", "duration_ms", "username",
                    "key_prefix", "tenant", "remote_addr")
    list_filter = ("status_code", "tenant", "method", "timestamp")
    search_fields = ("path", "username", "key_prefix", "request_id")
    date_hierarchy = "timestamp"
    list_select_related = ("user", "tenant")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Read-only, and not deletable here either: the trail is evidence (retention purges it)."""

    list_display = ("timestamp", "action", "target_repr", "actor", "actor_kind", "tenant", "remote_addr")
    list_filter = ("tenant", "actor_kind", "action", "actor", "timestamp")
    search_fields = ("actor", "target_id", "target_repr", "request_id")
    date_hierarchy = "timestamp"
    list_select_related = ("tenant",)
    readonly_fields = ("actor_key_prefix",)
    exclude = ("actor_key",)

    @admin.display(description="API key")
    def actor_key_prefix(self, obj: AuditEntry) -> str:
        return obj.actor_key_id.partition(".")[0] if obj.actor_key_id else ""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
