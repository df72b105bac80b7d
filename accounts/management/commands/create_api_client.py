"""``manage.py create_api_client NAME``: an API client account and its token, printed once."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandParser

from accounts.services import create_api_client


class Command(BaseCommand):
    help = "Create (or fetch) an API client user and print its token for the Authorization header."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="client name, e.g. web-frontend")

    def handle(self, *args: object, name: str, **options: object) -> None:
        token, created = create_api_client(name)
        verb = "Created" if created else "Existing"
        self.stderr.write(f"{verb} API client {name!r}; send: Authorization: Token <token>")
        self.stdout.write(token)
