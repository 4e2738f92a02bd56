from django.contrib import admin

from apps.audit.models import AccessLog


@admin.register(AccessLog)
class AccessLogAdmin(admin.ModelAdmin):
    """Read-only: the access log is evidence, operators filter it but never edit it."""

    list_display = ("timestamp", "method", "path", "status_code", "duration_ms", "username", "remote_addr")
    list_filter = ("method", "status_code", "timestamp")
    search_fields = ("path", "username", "request_id")
    date_hierarchy = "timestamp"
    list_select_related = ("user",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
