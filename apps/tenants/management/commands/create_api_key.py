from django.core.management.base import BaseCommand

from apps.tenants.management.arguments import ACTOR, domain_errors, parse_expiry
from apps.tenants.scopes import Scope
from apps.tenants.selectors import tenant_get
from apps.tenants.services import api_key_create


class Command(BaseCommand):
    help = "Create an API key for a tenant and print it once (only its hash is stored)."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="the tenant's slug")
        parser.add_argument("--scopes", required=True, help=f"comma-separated, of: {', '.join(Scope.values)}")
        parser.add_argument("--expires", help="2027-01-01 or an ISO datetime (UTC unless given); default: never")
        parser.add_argument("--name", help="free text, 50 characters at most (default: '<tenant> key')")

    def handle(self, *args, **opts):
        expiry = parse_expiry(opts["expires"])
        with domain_errors():
            tenant = tenant_get(slug=opts["tenant"])
            api_key, raw = api_key_create(tenant=tenant, name=opts["name"] or f"{tenant.slug} key",
                                          scopes=opts["scopes"], expiry_date=expiry, created_by=ACTOR)
        self.stderr.write(f"API key {api_key.prefix} for tenant {tenant.slug}, scopes {','.join(api_key.scopes)}"
                          f"{', expires ' + expiry.isoformat() if expiry else ''}. Shown once; store it now:")
        self.stdout.write(raw)
