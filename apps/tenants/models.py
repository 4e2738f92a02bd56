"""Tenants and their API keys.

`Tenant` keeps an integer key (int4), not the UUID of `BaseModel`: its id will sit in a
`tenant_id` column on every hot table (agents, tasks, embeddings), in the leading position of
composite indexes and in the row-level-security predicate `tenant_id =
current_setting('agency.tenant_id')::int`. Four bytes instead of sixteen keep those indexes
smaller, `int4eq` is leakproof (so the policy never blocks an index), and the setting is a plain
integer. Tenants are few, made by operators, and addressed by their slug in the API and the
admin, so nothing is gained by an unguessable key. The timestamps still come from `BaseModel`.

`ApiKey` extends djangorestframework-api-key's `AbstractAPIKey`: the library generates the key
(`<8-char prefix>.<32 random chars>`), stores only the prefix and a sha512 hash, and forbids
un-revoking. This model adds the tenant, the scopes, last use, revocation time and rotation.
"""

from __future__ import annotations

from auditlog.registry import auditlog
from django.contrib.postgres.fields import ArrayField
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from rest_framework_api_key.models import AbstractAPIKey

from apps.common.models import BaseModel
from apps.tenants.rates import RATE_SQL, validate_rate
from apps.tenants.scopes import Scope

SLUG_SQL = r"^[a-z0-9][a-z0-9-]{1,62}$"
# \Z, not $: Python's $ also matches before a trailing newline ("acme\n").
slug_validator = RegexValidator(
    r"^[a-z0-9][a-z0-9-]{1,62}\Z",
    message="slug must be 2-63 characters of a-z, 0-9 and '-', starting with a letter or digit",
    code="invalid_slug",
)


class Tenant(BaseModel):
    """One service (or group of services) whose agents, tasks and memory are isolated from the others'.

    Quotas left empty are unlimited; `request_rate` empty means `AGENCY_API_RATE`.
    """

    id = models.AutoField(primary_key=True)  # int4 on purpose: see the module docstring
    slug = models.CharField(max_length=63, unique=True, validators=[slug_validator],
                            help_text="Stable name used by operators (X-Agency-Tenant header, commands).")
    name = models.CharField(max_length=200)
    active = models.BooleanField(default=True, help_text="Inactive: every key of the tenant is refused (401).")
    max_collections = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: unlimited.")
    max_embeddings = models.PositiveBigIntegerField(null=True, blank=True, help_text="Empty: unlimited.")
    max_pending_tasks = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: unlimited.")
    request_rate = models.CharField(max_length=32, null=True, blank=True, validators=[validate_rate],
                                    help_text="Like 600/minute; empty: AGENCY_API_RATE.")

    class Meta:
        ordering = ["slug"]
        constraints = [
            models.CheckConstraint(condition=Q(slug__regex=SLUG_SQL), name="tenants_tenant_slug_format"),
            models.CheckConstraint(condition=Q(request_rate__isnull=True) | Q(request_rate__regex=RATE_SQL),
                                   name="tenants_tenant_request_rate_format"),
        ]

    def __str__(self) -> str:
        return self.slug


class ApiKey(AbstractAPIKey):
    """A service's credential: one tenant, some scopes, optionally an expiry.

    The raw key is returned once by the services that create it and never stored; `id` is the
    library's `prefix.hash`, `prefix` the public part used to find the row and shown in the admin.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="api_keys")
    scopes = ArrayField(models.CharField(max_length=32, choices=Scope.choices))
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False,
                                        help_text="Updated at most once per AGENCY_API_KEY_LAST_USED_INTERVAL.")
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    rotated_from = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, editable=False,
                                     related_name="rotations", help_text="The key this one was rotated from.")
    created_by = models.CharField(max_length=150, blank=True, editable=False,
                                  help_text="Who made the key: user:<name>, api-key:<prefix> or manage.py.")

    class Meta(AbstractAPIKey.Meta):
        constraints = [
            models.CheckConstraint(condition=Q(scopes__contained_by=Scope.values) & Q(scopes__len__gte=1),
                                   name="tenants_apikey_scopes_known"),
            models.CheckConstraint(condition=Q(revoked=False) | Q(revoked_at__isnull=False),
                                   name="tenants_apikey_revoked_at_set"),
        ]

    def __str__(self) -> str:
        return f"{self.prefix} ({self.name})"


auditlog.register(Tenant)
# The hash is no secret, but it says nothing to a reader; last use is written by update() (no entry anyway).
auditlog.register(ApiKey, exclude_fields=["hashed_key", "last_used_at"])
