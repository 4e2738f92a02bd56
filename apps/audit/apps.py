from django.apps import AppConfig, apps
from django.db.models.signals import pre_save


class AuditConfig(AppConfig):
    name = "apps.audit"
    label = "audit"
    verbose_name = "Audit"

    def ready(self) -> None:
        """Audit tenants and keys from django-auditlog's post_log; stamp every LogEntry with its actor.

        The models are looked up by label: other apps' models are theirs to import (see receivers.py).
        """
        from auditlog.models import LogEntry
        from auditlog.signals import post_log

        from apps.audit import receivers

        pre_save.connect(receivers.log_entry_stamp_actor, sender=LogEntry, dispatch_uid="audit-stamp-actor")
        post_log.connect(receivers.tenant_audited, sender=apps.get_model("tenants", "Tenant"),
                         dispatch_uid="audit-tenant")
        post_log.connect(receivers.api_key_audited, sender=apps.get_model("tenants", "ApiKey"),
                         dispatch_uid="audit-api-key")
