"""``python manage.py rollup [--full]``: run the metric rollups now, in this process."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from analytics.services.rollup_lock import rollup_lock
from analytics.services.rollups import do_run_rollups, rollup_row_count

# How long the command waits for a rollup already running (beat's) before giving up.
LOCK_WAIT_SECONDS = 3600.0


class Command(BaseCommand):
    help = "Roll events up into per-user and per-variant statistics (what the reports read)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--full",
            action="store_true",
            help="rebuild everything instead of the days and users changed since the last run",
        )

    def handle(self, *args, full: bool = False, **options) -> None:
        with rollup_lock(wait_seconds=LOCK_WAIT_SECONDS) as held:
            if not held:
                raise CommandError("another rollup kept running for an hour; try again later")
            summary = do_run_rollups(full=full)
        mode = "full" if summary.full else "incremental"
        self.stdout.write(
            f"rollup ({mode}): {summary.seconds:.2f} s, {summary.new_exposures} new exposures, "
            f"days {', '.join(summary.days) or '-'}, {summary.scopes} scopes, "
            f"{rollup_row_count()} user-day rows"
        )
