from django.core.management.base import BaseCommand

from apps.tenants.management.arguments import domain_errors
from apps.tenants.services import tenant_create


class Command(BaseCommand):
    help = "Create a tenant (slug: 2-63 of a-z, 0-9, '-'). Empty quotas are unlimited."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--name", default="", help="display name (default: the slug)")
        parser.add_argument("--max-collections", type=int)
        parser.add_argument("--max-embeddings", type=int)
        parser.add_argument("--max-pending-tasks", type=int)
        parser.add_argument("--request-rate", help="like 600/minute (default: AGENCY_API_RATE)")
        parser.add_argument("--inactive", action="store_true", help="create it deactivated")

    def handle(self, *args, **opts):
        with domain_errors():
            tenant = tenant_create(slug=opts["slug"], name=opts["name"], active=not opts["inactive"],
                                   max_collections=opts["max_collections"], max_embeddings=opts["max_embeddings"],
                                   max_pending_tasks=opts["max_pending_tasks"], request_rate=opts["request_rate"])
        self.stdout.write(self.style.SUCCESS(f"tenant {tenant.slug} created (id {tenant.pk})"))
