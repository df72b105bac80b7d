#!/usr/bin/env python
"""Django's command-line entry point for Splitlab."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.core.management import execute_from_command_line
    from django.db.utils import OperationalError

    try:
        execute_from_command_line(sys.argv)
    except OperationalError as exc:
        # An unreachable database is a configuration problem: say so in one line.
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        sys.exit(f"Configuration error: DATABASE_URL: database unreachable ({first_line})")


if __name__ == "__main__":
    main()
