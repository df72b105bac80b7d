"""``manage.py revoke_api_client NAME``: every key of the client stops working."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.services import do_revoke_api_client


class Command(BaseCommand):
    help = "Revoke every key of an API client."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")

    def handle(self, *args: object, name: str, **options: object) -> None:
        try:
            count = do_revoke_api_client(name)
        except ValueError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(
            f"Revoked {count} key(s) of {name!r}; every web process refuses them within "
            f"{settings.SPLITLAB_TOKEN_CACHE_SECONDS:g} s (SPLITLAB_TOKEN_CACHE_SECONDS)."
        )
