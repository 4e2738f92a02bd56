#!/usr/bin/env python
"""Django's command-line utility for administrative tasks.

It starts no server: with no DATABASE_URL / REDIS_URL, the settings use the embedded servers that
`make services` started, and say so when none is running.
"""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agency.settings.local")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
