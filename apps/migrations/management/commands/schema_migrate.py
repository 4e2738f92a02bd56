from django.core.management.base import BaseCommand, CommandError

from apps.migrations.management.progress import domain_errors
from apps.migrations.models import RunStatus
from apps.migrations.services.schema import schema_migrate


class Command(BaseCommand):
    help = ("Apply every unapplied migration after taking a backup, and record a MigrationRun; "
            "--dry-run rehearses on a scratch copy of the database and changes nothing.")

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="rehearse on a scratch copy, report, drop it")
        parser.add_argument("--no-backup", action="store_true", help="do not take a backup first")

    def handle(self, *args, **opts):
        with domain_errors():
            run = schema_migrate(dry_run=opts["dry_run"], backup=not opts["no_backup"])
        self.stdout.write(run.output)
        if run.backup_id:
            self.stdout.write(f"backup taken first: {run.backup_id}")
        if run.status != RunStatus.SUCCEEDED:
            raise CommandError(f"migration run {run.pk} {run.status}: {run.error}")
        self.stdout.write(self.style.SUCCESS(
            f"migration run {run.pk}: {len(run.plan)} migration(s) {'rehearsed' if run.dry_run else 'applied'} "
            f"in {run.duration_seconds} s"))
