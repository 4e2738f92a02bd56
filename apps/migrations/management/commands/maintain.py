from django.core.management.base import BaseCommand, CommandError
from django.template.defaultfilters import filesizeformat

from apps.migrations.management.progress import domain_errors, progress_bar
from apps.migrations.models import RunStatus
from apps.migrations.services.maintenance import maintenance_run
from apps.migrations.services.schema import default_actor


class Command(BaseCommand):
    help = "ANALYZE hot tables, VACUUM (ANALYZE), REINDEX bloated vector indexes; record and print the report."

    def add_arguments(self, parser):
        parser.add_argument("--analyze", action="store_true", help="ANALYZE tables changed since their last analyze")
        parser.add_argument("--vacuum", action="store_true", help="VACUUM (ANALYZE) tables with dead tuples")
        parser.add_argument("--reindex", action="store_true", help="REINDEX CONCURRENTLY bloated vector indexes")
        parser.add_argument("--dry-run", action="store_true", help="report what would be done, do nothing")
        parser.add_argument("--table", action="append", dest="tables", default=[], help="only this table (repeatable)")

    def handle(self, *args, **opts):
        chosen = {k: opts[k] for k in ("analyze", "vacuum", "reindex")}
        if not any(chosen.values()):
            chosen = dict.fromkeys(chosen, True)  # no step named: do them all
        with domain_errors(), progress_bar(self, "maintenance", opts["verbosity"]) as progress:
            run = maintenance_run(actor=default_actor(), progress=progress, dry_run=opts["dry_run"],
                                  tables=opts["tables"], **chosen)
        if run.status == RunStatus.SKIPPED:
            raise CommandError(f"maintenance run {run.pk} {run.error}: another maintenance is running")
        if run.status == RunStatus.FAILED:
            raise CommandError(f"maintenance run {run.pk} failed: {run.error}")
        report = run.report
        verb = "would run" if run.dry_run else "ran"
        for a in report["actions"]:
            self.stdout.write(f"  {verb} {a['action']} {a['target']} ({a['seconds']} s)")
        if not report["actions"]:
            self.stdout.write("  nothing to do")
        self.stdout.write(f"\n{'table':40} {'live':>10} {'dead':>8} {'total':>10} {'indexes':>10}")
        for t in report["tables"][:25]:
            self.stdout.write(f"{t['table']:40} {t['live_rows']:>10} {t['dead_rows']:>8} "
                              f"{filesizeformat(t['total_bytes']):>10} {filesizeformat(t['index_bytes']):>10}")
        for v in report["vector_indexes_before"]:
            self.stdout.write(f"vector index {v['index']} ({v['method']}): {filesizeformat(v['bytes'])}, "
                              f"{v['live_rows']} rows, bloat {v['bloat_ratio']}, reindex due: {v['reindex_due']}")
        if report["totals"]["unused_indexes"]:
            self.stdout.write(f"unused indexes: {', '.join(report['totals']['unused_indexes'])}")
        self.stdout.write(self.style.SUCCESS(f"maintenance run {run.pk} {run.status} in {run.duration_seconds} s"))
