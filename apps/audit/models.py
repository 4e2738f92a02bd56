"""The audit trail (`AuditEntry`: one row per write, with its actor and tenant) and the API access log.

Field-level diffs of the models registered with django-auditlog stay in its `LogEntry`; an
`AuditEntry` is the operation as a whole ("an ingest of 500 items into collection docs by key
ab12cd34 of tenant acme"), so that it can say what a diff cannot (counts, the filter a delete used,
which key) and be listed per tenant.

Both tables point at tenants, keys and users without database constraints (`db_constraint=False`,
`DO_NOTHING`): the log is evidence and keeps the id of a tenant or key deleted later, and it must
never block such a delete or be emptied by it. They are read with `select_related`, which turns a
vanished row into `None`.
"""

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone


class AccessLog(models.Model):
    """One API request: who called what, how it ended and how long it took.

    Rows arrive in batches: the middleware pushes a line to a Redis list (no database write on
    the request path) and a Celery task flushes the list with one bulk insert. Refused requests
    (401/403/404/429) carry the credential that was presented (`key_prefix` also for an unknown or
    revoked key: the public part only), the tenant and the error code; repeated 401/429 lines of one
    caller are collapsed into one row per minute at flush time (`hits`), so a flood of bad
    credentials costs Redis pushes, not database rows.
    """

    id = models.BigAutoField(primary_key=True)
    timestamp = models.DateTimeField(db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+")
    username = models.CharField(max_length=150, blank=True,
                                help_text="The credential: user name, or api-key:<prefix> for a key.")
    key_prefix = models.CharField(max_length=8, blank=True,
                                  help_text="The API key prefix presented, also when it was refused.")
    tenant = models.ForeignKey("tenants.Tenant", null=True, blank=True, on_delete=models.DO_NOTHING,
                               db_constraint=False, db_index=False, related_name="+")
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    status_code = models.PositiveSmallIntegerField()
    error_code = models.CharField(max_length=64, blank=True, help_text="The error body's code, if any.")
    hits = models.PositiveIntegerField(default=1, help_text="Identical refused requests collapsed into this row.")
    duration_ms = models.FloatField()
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-timestamp"]
        indexes = [
            models.Index(fields=["status_code", "timestamp"], name="audit_access_status_ts"),
            models.Index(fields=["user", "timestamp"], name="audit_access_user_ts"),
            models.Index(fields=["tenant", "timestamp"], name="audit_access_tenant_ts"),
            models.Index(fields=["username", "timestamp"], name="audit_access_username_ts"),
            models.Index(fields=["key_prefix", "timestamp"], name="audit_access_key_ts"),
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.path} {self.status_code}"


class ActorKind(models.TextChoices):
    KEY = "key", "API key"
    USER = "user", "user"
    SYSTEM = "system", "system"


class AuditEntry(models.Model):
    """One write: who (key, user or the system), in which tenant, did what to which object.

    `actor` is the one label to filter by: `api-key:<prefix>`, `user:<username>`, or
    `system[:<what>]` (a Celery task, a management command). `tenant` is the written object's
    tenant, empty for operator-wide actions. `data` holds what the operation was about: counts for
    a batch, the filter of a delete, the changed fields (never a key's secret).
    """

    id = models.BigAutoField(primary_key=True)
    timestamp = models.DateTimeField(default=timezone.now)
    tenant = models.ForeignKey("tenants.Tenant", null=True, blank=True, on_delete=models.DO_NOTHING,
                               db_constraint=False, db_index=False, related_name="+")
    actor_kind = models.CharField(max_length=8, choices=ActorKind.choices)
    actor = models.CharField(max_length=200)
    actor_key = models.ForeignKey("tenants.ApiKey", null=True, blank=True, on_delete=models.DO_NOTHING,
                                  db_constraint=False, db_index=False, related_name="+",
                                  help_text="The API key that made the write (its id; the prefix is in actor).")
    actor_user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   db_index=False, related_name="+")
    action = models.CharField(max_length=64, help_text="<what>.<verb>, e.g. collection.create, embeddings.ingest")
    target_type = models.CharField(max_length=100, blank=True, help_text="app_label.model of the object written")
    target_id = models.CharField(max_length=100, blank=True)
    target_repr = models.CharField(max_length=200, blank=True)
    data = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-timestamp", "-id"]
        verbose_name_plural = "audit entries"
        indexes = [
            models.Index(fields=["timestamp"], name="audit_entry_ts"),
            models.Index(fields=["tenant", "timestamp"], name="audit_entry_tenant_ts"),
            models.Index(fields=["actor", "timestamp"], name="audit_entry_actor_ts"),
            models.Index(fields=["action", "timestamp"], name="audit_entry_action_ts"),
            models.Index(fields=["target_type", "target_id"], name="audit_entry_target"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.target_repr or self.target_id} by {self.actor}"
