from django.core.management.base import BaseCommand, CommandError

from apps.migrations.management.progress import domain_errors, progress_bar
from apps.migrations.services.backups import backup_verify


class Command(BaseCommand):
    help = "Restore backup ID into a scratch database, compare row counts and checksums with its manifest, drop it."

    def add_arguments(self, parser):
        parser.add_argument("backup_id")

    def handle(self, *args, **opts):
        with domain_errors(), progress_bar(self, "verify", opts["verbosity"]) as progress:
            backup = backup_verify(backup_id=opts["backup_id"], progress=progress)
        report = backup.verification
        self.stdout.write(f"{len(report['tables'])} tables and {len(report['vectors'])} vector collections compared "
                          f"in {report['duration_seconds']} s")
        if not backup.verification_ok:
            raise CommandError(f"backup {backup.pk} does NOT restore to what was dumped: "
                               + ", ".join(report["mismatches"]))
        self.stdout.write(self.style.SUCCESS(f"backup {backup.pk} verified: every row count and checksum matches"))
