"""``python manage.py load_demo_data [--users N --items M --seed S]``: the demo catalogue.

Generates users with latent tastes over genres, items with genres, titles, texts and
creators, and their interactions (views, clicks, ratings, purchases) with timestamps
(``recommenders.core.demo``), and loads them. Same options, same data; idempotent.
"""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError, CommandParser

from recommenders.core.demo import generate_demo_dataset
from recommenders.management.options import positive_int
from recommenders.services.catalog import CatalogLoadError
from recommenders.services.datasets import do_load_demo_dataset


class Command(BaseCommand):
    help = "Generate and load the demo catalogue: users with tastes, items, interactions."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--users", type=positive_int, default=500, help="default 500")
        parser.add_argument("--items", type=positive_int, default=300, help="default 300")
        parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
        parser.add_argument(
            "--interactions-per-user",
            type=float,
            default=25.0,
            help="mean distinct items per user (default 25)",
        )

    def handle(self, *args: object, **options: object) -> None:
        started = time.perf_counter()
        try:
            demo = generate_demo_dataset(
                n_users=int(options["users"]),
                n_items=int(options["items"]),
                seed=int(options["seed"]),
                mean_interactions_per_user=float(options["interactions_per_user"]),
            )
            result = do_load_demo_dataset(demo).interactions
        except (ValueError, CatalogLoadError) as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            f"Demo data (seed {options['seed']}) in {time.perf_counter() - started:.1f} s: "
            f"{len(demo.items)} items, {len(demo.users)} users, {result.received} interactions "
            f"({result.inserted} new)."
        )
