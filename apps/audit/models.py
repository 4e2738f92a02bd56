"""The API access log. Model change history itself is django-auditlog's `LogEntry`."""

from django.conf import settings
from django.db import models


class AccessLog(models.Model):
    """One API request: who called what, how it ended and how long it took.

    Rows arrive in batches: the middleware pushes a line to a Redis list (no database write on
    the request path) and a Celery task flushes the list with one bulk insert.
    """

    id = models.BigAutoField(primary_key=True)
    timestamp = models.DateTimeField(db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+")
    username = models.CharField(max_length=150, blank=True)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    status_code = models.PositiveSmallIntegerField()
    duration_ms = models.FloatField()
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-timestamp"]
        indexes = [
            models.Index(fields=["status_code", "timestamp"], name="audit_access_status_ts"),
            models.Index(fields=["user", "timestamp"], name="audit_access_user_ts"),
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.path} {self.status_code}"
