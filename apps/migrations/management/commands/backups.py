from django.core.management.base import BaseCommand
from django.template.defaultfilters import filesizeformat

from apps.migrations.selectors import backup_list


class Command(BaseCommand):
    help = "List the backups: id, kind, status, size, verification, file."

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=50)

    def handle(self, *args, **opts):
        rows = list(backup_list()[: opts["limit"]])
        if not rows:
            self.stdout.write("no backups")
            return
        self.stdout.write(f"{'id':36}  {'created (UTC)':16}  {'kind':6}  {'status':9}  {'size':>9}  {'verified':8}  file")
        for b in rows:
            verified = "-" if b.verification_ok is None else ("ok" if b.verification_ok else "FAILED")
            size = filesizeformat(b.size_bytes) if b.size_bytes is not None else "-"
            state = "expired" if b.expired_at else b.status
            self.stdout.write(f"{b.pk!s:36}  {b.created_at:%Y-%m-%d %H:%M}  {b.kind:6}  {state:9}  {size:>9}  "
                              f"{verified:8}  {b.file_path or b.error}")
