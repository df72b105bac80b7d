"""Benchmark: rows per second of the interactions bulk loader (COPY on PostgreSQL).

Loads MovieLens 1M positives (575,281 rows; ``--quick``: MovieLens 100K, 100,000 rows)
through ``do_load_interactions`` into a scratch database created for the run and dropped
after it (``test_`` + the configured database's name, so no real data is touched), and
prints one line: rows, seconds, rows/s of the first load, and the time of an idempotent
reload of the same rows (all already present).

The database is ``--database-url``, else ``DATABASE_URL``, else PostgreSQL on
127.0.0.1:5432 (``--quick``: the embedded SQLite default). The data come from
``SPLITLAB_SHARED_DATA`` (default ``../shared/data`` beside the repository).

    python benchmarks/load_interactions.py [--quick] [--database-url URL]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from recommenders.core.datasets import RawDataset

REPO = Path(__file__).resolve().parent.parent
DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/splitlab"


def shared_data_dir() -> Path:
    return Path(os.environ.get("SPLITLAB_SHARED_DATA", REPO.parent / "shared" / "data"))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="MovieLens 100K instead of 1M")
    parser.add_argument("--database-url", default=None, help="database to benchmark on")
    return parser.parse_args(argv)


def setup_django(database_url: str) -> None:
    """Configure Django for a throwaway process that serves nothing."""
    sys.path.insert(0, str(REPO))
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    else:
        os.environ.pop("DATABASE_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DJANGO_DEBUG", "true")  # no secret key needed; nothing is served
    import django

    django.setup()


def read_source(quick: bool) -> tuple[str, RawDataset]:
    """The dataset's folder name and its parsed rows (ML-1M positives, or ML-100K)."""
    from recommenders.core.datasets import read_movielens_1m, read_movielens_100k

    source = shared_data_dir() / ("ml-100k" if quick else "ml-1m")
    if not source.is_dir():
        raise SystemExit(f"{source}: no such folder (set SPLITLAB_SHARED_DATA)")
    return source.name, read_movielens_100k(source) if quick else read_movielens_1m(source)


def measure(name: str, raw: RawDataset) -> str:
    """Load the catalogue (untimed), then the interactions twice (timed); the result line.

    Runs against the current default database, which should hold no interactions yet.
    """
    from django.db import connection

    from recommenders.services.catalog import (
        do_load_interactions,
        do_load_items,
        do_load_user_profiles,
    )
    from recommenders.services.datasets import (
        dataset_interaction_columns,
        dataset_item_records,
        dataset_user_records,
    )

    columns = dataset_interaction_columns(raw, "rating")
    do_load_items(dataset_item_records(raw.items))
    do_load_user_profiles(dataset_user_records(raw))
    started = time.perf_counter()
    first = do_load_interactions(columns)
    first_seconds = time.perf_counter() - started
    started = time.perf_counter()
    again = do_load_interactions(columns)
    reload_seconds = time.perf_counter() - started
    if first.inserted != len(columns) or again.inserted != 0:
        raise SystemExit(f"unexpected counts: {first} then {again}")
    return (
        f"load_interactions ({name}, {connection.vendor}): {len(columns):,} rows in "
        f"{first_seconds:.2f} s = {len(columns) / first_seconds:,.0f} rows/s; "
        f"idempotent reload {reload_seconds:.2f} s (0 new rows)"
    )


def run(quick: bool) -> str:
    """Measure on a scratch database created for the run and dropped after it."""
    from django.db import connection

    name, raw = read_source(quick)
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        return measure(name, raw)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    url = args.database_url
    if url is None:
        url = os.environ.get("DATABASE_URL", "") or ("" if args.quick else DEFAULT_POSTGRES_URL)
    setup_django(url)
    print(run(args.quick))


if __name__ == "__main__":
    main()
