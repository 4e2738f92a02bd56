from django.core.management.base import BaseCommand, CommandError
from django.template.defaultfilters import filesizeformat

from apps.migrations.management.progress import domain_errors, progress_bar
from apps.migrations.models import Backup, RunStatus
from apps.migrations.services.backups import backup_create
from apps.migrations.services.schema import default_actor


class Command(BaseCommand):
    help = "Dump the database (pg_dump -Fc, the client matching the server) into AGENCY_BACKUP_DIR; apply retention."

    def add_arguments(self, parser):
        parser.add_argument("--kind", choices=[*Backup.Kind.values, "auto"], default=Backup.Kind.MANUAL,
                            help="manual (default, never pruned), daily, weekly, or auto (as the schedule does)")

    def handle(self, *args, **opts):
        with domain_errors(), progress_bar(self, "backup", opts["verbosity"]) as progress:
            backup = backup_create(kind=opts["kind"], actor=default_actor(), progress=progress)
        if backup.status != RunStatus.SUCCEEDED:
            raise CommandError(f"backup {backup.pk} {backup.status}: {backup.error}")
        self.stdout.write(self.style.SUCCESS(
            f"backup {backup.pk} ({backup.kind}) written in {backup.duration_seconds} s\n"
            f"  file   {backup.file_path}\n  size   {filesizeformat(backup.size_bytes)}\n  sha256 {backup.sha256}"
        ))
