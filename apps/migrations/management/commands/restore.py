from django.core.management.base import BaseCommand

from apps.migrations.management.progress import domain_errors, progress_bar
from apps.migrations.services.backups import backup_restore


class Command(BaseCommand):
    help = ("Restore backup ID into --into DBNAME (created), or over the live database (needs --force). "
            "The file's sha256 is checked first.")

    def add_arguments(self, parser):
        parser.add_argument("backup_id")
        parser.add_argument("--into", help="restore into this database instead of the live one")
        parser.add_argument("--force", action="store_true",
                            help="allow replacing the live database, or an existing --into database")

    def handle(self, *args, **opts):
        with domain_errors(), progress_bar(self, "restore", opts["verbosity"]) as progress:
            result = backup_restore(backup_id=opts["backup_id"], into=opts["into"], force=opts["force"],
                                    progress=progress)
        self.stdout.write(self.style.SUCCESS(
            f"backup {result['backup']} restored into {result['database']}"
            f"{' (the live database)' if result['live'] else ''} in {result['duration_seconds']} s"
        ))
