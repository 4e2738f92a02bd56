"""`manage.py reap_expired_leases`: what the beat schedule runs, by hand (e.g. after an outage)."""

from django.core.management.base import BaseCommand

from apps.tasks.services import task_reap_expired_leases


class Command(BaseCommand):
    help = "Return tasks whose worker lease expired to pending (failed when out of attempts). Idempotent."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=1000)

    def handle(self, *args, batch_size: int, **options):
        outcome = task_reap_expired_leases(batch_size=batch_size)
        self.stdout.write(f"requeued {outcome['requeued']}, failed {outcome['failed']}")
