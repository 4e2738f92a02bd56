"""`manage.py listen CHANNEL [--count N] [--timeout S]`: print messages published on a Redis channel."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from apps.platform.cache import REDIS_ERRORS, channel_listen


class Command(BaseCommand):
    help = "Print every message published on a Redis pub/sub channel (e.g. agent:status), one per line."

    def add_arguments(self, parser) -> None:
        parser.add_argument("channel")
        parser.add_argument("--count", type=int, default=None, help="exit after this many messages")
        parser.add_argument("--timeout", type=float, default=None, help="exit after this many seconds")

    def handle(self, *args, channel: str, count: int | None, timeout: float | None, **options) -> None:
        if count is not None and count < 1:
            raise CommandError("--count must be at least 1")
        if timeout is not None and timeout <= 0:
            raise CommandError("--timeout must be positive")
        self.stderr.write(f"listening on {channel!r} (Ctrl-C to stop)")
        try:
            for message in channel_listen(channel, count=count, timeout=timeout):
                self.stdout.write(message)
                self.stdout.flush()
        except REDIS_ERRORS as exc:
            raise CommandError(f"Redis is unavailable: {exc}") from exc
        except KeyboardInterrupt:
            pass
