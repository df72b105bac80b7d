"""``manage.py rotate_api_key NAME [--overlap-hours H]``: a new key; old ones end after H."""

from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.services import do_rotate_api_key


class Command(BaseCommand):
    help = "Issue a new key for an API client; its other keys stop working after the overlap."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--overlap-hours", type=float, default=24.0)
        parser.add_argument("--lifetime-days", type=float, default=None)

    def handle(
        self,
        *args: object,
        name: str,
        overlap_hours: float,
        lifetime_days: float | None,
        **options: object,
    ) -> None:
        lifetime = timedelta(days=lifetime_days) if lifetime_days is not None else None
        try:
            key, ends = do_rotate_api_key(
                name, overlap=timedelta(hours=overlap_hours), lifetime=lifetime
            )
        except ValueError as error:
            raise CommandError(str(error)) from None
        self.stderr.write(f"New key for {name!r}; the previous keys stop working at {ends:%c} UTC")
        self.stdout.write(key)
