"""``manage.py ensure_admin``: the admin account for ``make run``, created once."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandParser

from accounts.services import ensure_admin_user


class Command(BaseCommand):
    help = "Create the admin superuser if it does not exist and say how to log in."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="admin")
        parser.add_argument("--password", default="admin")

    def handle(self, *args: object, username: str, password: str, **options: object) -> None:
        created = ensure_admin_user(username, password)
        state = "created" if created else "already exists"
        self.stdout.write(
            f"Admin user {username!r} {state}. Log in at http://127.0.0.1:8000/admin/ "
            f"as {username} / {password if created else '(the password you set)'}"
        )
