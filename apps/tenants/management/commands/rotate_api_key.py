from django.core.management.base import BaseCommand

from apps.tenants.management.arguments import ACTOR, domain_errors, parse_expiry
from apps.tenants.selectors import api_key_get
from apps.tenants.services import api_key_rotate


class Command(BaseCommand):
    help = ("Make a successor of an API key (same tenant, name, scopes) and print it once. The old key keeps "
            "working until you revoke it (revoke_api_key), so clients can move over.")

    def add_arguments(self, parser):
        parser.add_argument("prefix")
        parser.add_argument("--expires", help="expiry of the new key (default: the old key's)")

    def handle(self, *args, **opts):
        kwargs = {"expiry_date": parse_expiry(opts["expires"])} if opts["expires"] else {}
        with domain_errors():
            old = api_key_get(prefix=opts["prefix"])
            new, raw = api_key_rotate(api_key=old, created_by=ACTOR, **kwargs)
        self.stderr.write(f"API key {new.prefix} replaces {old.prefix} (tenant {old.tenant.slug}); revoke "
                          f"{old.prefix} once its clients use the new key. Shown once; store it now:")
        self.stdout.write(raw)
