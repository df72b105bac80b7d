"""``python manage.py recommend_offline --model NAME --train PATH --k K --out OUT
[--param name=value ...]``: batch recommendations for every user of a file.

Trains the model on the interactions file (MovieLens 100K/1M or CSV) and writes one line
per user, ``user_id<TAB>item_id,item_id,...``, best first, in external ids, never an item
of the user's training set. Users are written in sorted id order. Lines can be shorter
than k when a user has seen nearly the whole catalogue.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from django.core.management.base import BaseCommand, CommandError, CommandParser

from recommenders.core.base import InteractionData, Recommender
from recommenders.core.datasets import DatasetFormatError, to_interaction_data
from recommenders.core.registry import MODEL_NAMES, create_model
from recommenders.management.options import (
    DATA_FORMATS,
    parse_param,
    positive_int,
    read_in_format,
)


class Command(BaseCommand):
    help = "Train a model on an interactions file and write top-k lists for every user."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--model", required=True, help=f"one of: {', '.join(MODEL_NAMES)}")
        parser.add_argument("--train", required=True, help="interactions folder or file")
        parser.add_argument("--k", type=int, required=True, help="list length")
        parser.add_argument("--out", required=True, help="output file (tab-separated)")
        parser.add_argument(
            "--param",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="a hyperparameter of the model, e.g. factors=64 (repeatable)",
        )
        parser.add_argument("--format", dest="data_format", choices=DATA_FORMATS, default="auto")
        parser.add_argument("--min-value", type=float, help="keep interactions with value >= it")
        parser.add_argument("--binary", action="store_true", help="every kept value becomes 1")
        parser.add_argument("--batch-users", type=positive_int, default=4096)

    def handle(self, *args: object, **options: Any) -> None:
        k = options["k"]
        if k <= 0:
            raise CommandError(f"--k must be a positive integer, got {k}")
        model = _create(options["model"], options["param"])
        out = Path(options["out"]).expanduser()
        if out.is_dir():
            raise CommandError(f"--out {out}: is a folder; give a file name")
        started = time.perf_counter()
        try:
            raw = read_in_format(Path(options["train"]).expanduser(), options["data_format"])
            data = to_interaction_data(
                raw, min_value=options["min_value"], binary=options["binary"]
            )
            model.fit(data)
            n_lines = write_recommendations(model, data, k, out, options["batch_users"])
        except (DatasetFormatError, ValueError) as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            f"{model.name}: trained on {data.matrix.nnz} interactions of {data.n_users} users "
            f"and {data.n_items} items in {model.fit_seconds:.2f} s; wrote top-{k} lists for "
            f"{n_lines} users to {out} ({time.perf_counter() - started:.1f} s in all)."
        )


def _create(name: str, raw_params: list[str]) -> Recommender:
    if name not in MODEL_NAMES:
        raise CommandError(f"unknown model {name!r}; known models: {', '.join(MODEL_NAMES)}")
    params = dict(parse_param(text) for text in raw_params)
    try:
        return create_model(name, **params)
    except (ValueError, TypeError) as error:
        raise CommandError(str(error)) from error


def write_recommendations(
    model: Recommender, data: InteractionData, k: int, out: Path, batch_users: int
) -> int:
    """Write ``user<TAB>item,item,...`` for every user of ``data``; returns the line count.

    Written to a temporary file renamed at the end: a failed run leaves no partial output.
    """
    user_ids = np.asarray(data.user_ids).astype(str)
    item_ids = np.asarray(data.item_ids).astype(str)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    try:
        with partial.open("w", encoding="utf-8") as handle:
            for start in range(0, data.n_users, batch_users):
                users = np.arange(start, min(start + batch_users, data.n_users))
                indices = model.recommend(users, k, exclude_seen=True).item_indices
                handle.writelines(
                    f"{user_ids[user]}\t{','.join(item_ids[row[row >= 0]].tolist())}\n"
                    for user, row in zip(users.tolist(), indices, strict=True)
                )
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)
    return data.n_users
