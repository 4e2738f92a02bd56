from django.core.management.base import BaseCommand, CommandError

from apps.migrations.management.progress import domain_errors
from apps.migrations.models import RunStatus
from apps.migrations.services.schema import schema_rollback


class Command(BaseCommand):
    help = ("Roll APP back to MIGRATION (it stays applied; later ones and their dependants are reverted; "
            "'zero' reverts the whole app), after a backup; records a MigrationRun.")

    def add_arguments(self, parser):
        parser.add_argument("app_label")
        parser.add_argument("migration", help="name or unique prefix of an applied migration, or zero")
        parser.add_argument("--no-backup", action="store_true", help="do not take a backup first")

    def handle(self, *args, **opts):
        with domain_errors():
            run = schema_rollback(app_label=opts["app_label"], migration=opts["migration"],
                                  backup=not opts["no_backup"])
        self.stdout.write(run.output)
        if run.status != RunStatus.SUCCEEDED:
            raise CommandError(f"rollback {run.pk} {run.status}: {run.error}")
        reverted = ", ".join(f"{p['app']}.{p['name']}" for p in run.plan) or "nothing"
        self.stdout.write(self.style.SUCCESS(f"rolled back to {run.target} in {run.duration_seconds} s: {reverted}"))
