"""``python manage.py load_movielens PATH [--format auto|100k|1m|csv]``: load a dataset.

MovieLens 100K (a folder with ``u.data``, ``u.item``, ``u.user``), MovieLens 1M (a folder
or a ``*.dat`` ratings file, with ``movies.dat`` and ``users.dat`` beside it) or a CSV of
``user_id,item_id[,value][,timestamp]``. Titles are read as latin-1. Idempotent: a reload
refreshes items and users and adds no interaction twice.
"""

from __future__ import annotations

import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from recommenders.core.datasets import DatasetFormatError
from recommenders.management.options import DATA_FORMATS, read_in_format
from recommenders.models import Interaction
from recommenders.services.catalog import CatalogLoadError
from recommenders.services.datasets import do_load_dataset


class Command(BaseCommand):
    help = "Load MovieLens 100K/1M or a CSV of interactions into the catalogue (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="dataset folder or file")
        parser.add_argument(
            "--format",
            dest="data_format",
            choices=DATA_FORMATS,
            default="auto",
            help="auto (default) detects it from the files present",
        )
        parser.add_argument(
            "--kind",
            choices=Interaction.Kind.values,
            default=None,
            help="interaction kind of the rows (default: rating for MovieLens, view for CSV)",
        )

    def handle(self, *args: object, **options: object) -> None:
        path = Path(str(options["path"])).expanduser()
        started = time.perf_counter()
        try:
            raw = read_in_format(path, str(options["data_format"]))
            result = do_load_dataset(raw, kind=options["kind"])
        except (DatasetFormatError, CatalogLoadError) as error:
            raise CommandError(str(error)) from error
        seconds = time.perf_counter() - started
        self.stdout.write(
            f"Loaded {raw.format} from {path} in {seconds:.1f} s: "
            f"{result.items.received} items ({result.items.inserted} new), "
            f"{result.users.received} users ({result.users.inserted} new), "
            f"{result.interactions.received} interactions "
            f"({result.interactions.inserted} new, "
            f"{result.interactions.already_present} already present)."
        )
