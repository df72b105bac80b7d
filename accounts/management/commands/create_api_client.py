"""``manage.py create_api_client NAME [--scopes serve,analyze] [--lifetime-days N]``.

Prints a new key once (only its digest is stored). For an existing client a further key is
issued; its scopes are replaced when ``--scopes`` is given.
"""

from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.scopes import ALL_SCOPES
from accounts.services import create_api_client


class Command(BaseCommand):
    help = "Create an API client (or issue another key to one) and print its key once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="client name, e.g. web-frontend")
        parser.add_argument(
            "--scopes",
            nargs="+",
            default=None,
            help=f"any of {', '.join(ALL_SCOPES)} (space or comma separated; default: all)",
        )
        parser.add_argument(
            "--lifetime-days", type=float, default=None, help="the key expires after this"
        )

    def handle(
        self,
        *args: object,
        name: str,
        scopes: list[str] | None,
        lifetime_days: float | None,
        **options: object,
    ) -> None:
        lifetime = timedelta(days=lifetime_days) if lifetime_days is not None else None
        try:
            key, created = create_api_client(name, scopes=scopes, lifetime=lifetime)
        except ValueError as error:
            raise CommandError(str(error)) from None
        verb = "Created API client" if created else "Issued another key to API client"
        self.stderr.write(
            f"{verb} {name!r}; send: Authorization: Token <key>. "
            "The key is shown only now: store it."
        )
        self.stdout.write(key)
