from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from apps.audit.models import AccessLog


@admin.register(AccessLog)
class AccessLogAdmin(admin.ModelAdmin):
    """Read-only: the access log is evidence, operators filter it but never edit it."""

    list_display = ("timestamp", "method", "path", "status_code", "duration_ms", "username", "remote_addr")
    list_filter = ("method", "status_code", "timestamp")
    search_fields = ("path", "username", "request_id")
    date_hierarchy = "timestamp"
    list_select_related = ("user",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
