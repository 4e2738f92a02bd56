from django.core.management.base import BaseCommand

from apps.migrations.services.schema import schema_plan


class Command(BaseCommand):
    help = "Show the unapplied migrations and the SQL each would run."

    def add_arguments(self, parser):
        parser.add_argument("--no-sql", action="store_true", help="list the migrations only")

    def handle(self, *args, **opts):
        plan = schema_plan(with_sql=not opts["no_sql"])
        if not plan:
            self.stdout.write(self.style.SUCCESS("nothing to apply: every migration is applied"))
            return
        self.stdout.write(f"{len(plan)} unapplied migration(s):")
        for step in plan:
            self.stdout.write(self.style.MIGRATE_HEADING(f"\n{step['app']}.{step['name']}"
                                                         f"{'' if step['atomic'] else ' (non-atomic)'}"))
            for op in step["operations"]:
                self.stdout.write(f"  - {op}")
            for statement in step.get("sql", []):
                self.stdout.write(f"    {statement}")
