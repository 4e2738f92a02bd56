from django.core.management.base import BaseCommand

from apps.tenants.management.arguments import domain_errors
from apps.tenants.selectors import api_key_get
from apps.tenants.services import api_key_revoke


class Command(BaseCommand):
    help = "Revoke an API key by its prefix (the part before the dot); refused from the next request on."

    def add_arguments(self, parser):
        parser.add_argument("prefix")

    def handle(self, *args, **opts):
        with domain_errors():
            api_key = api_key_get(prefix=opts["prefix"])
            already = api_key.revoked
            api_key_revoke(api_key=api_key)
        note = "was already revoked" if already else "revoked"
        self.stdout.write(self.style.SUCCESS(f"API key {api_key.prefix} ({api_key.tenant.slug}) {note}"))
