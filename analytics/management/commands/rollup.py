"""``python manage.py rollup [--full]``: run the metric rollups now, in this process."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from analytics.services.rollups import do_run_rollups, rollup_row_count


class Command(BaseCommand):
    help = "Roll events up into per-user and per-variant statistics (what the reports read)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--full",
            action="store_true",
            help="rebuild everything instead of the days and users changed since the last run",
        )

    def handle(self, *args, full: bool = False, **options) -> None:
        summary = do_run_rollups(full=full)
        mode = "full" if summary.full else "incremental"
        self.stdout.write(
            f"rollup ({mode}): {summary.seconds:.2f} s, {summary.new_exposures} new exposures, "
            f"days {', '.join(summary.days) or '-'}, {summary.scopes} scopes, "
            f"{rollup_row_count()} user-day rows"
        )
