"""``python manage.py evaluate_recommenders --data PATH --models als,item_cf --protocol
leave-last-out --k 10 [--json OUT] [--param als.factors=64 ...]``: offline evaluation.

Every model is fitted on the same training split of the dataset and scored by the core's
``evaluate`` (HR, recall, precision, NDCG, MAP at k, catalogue coverage, popularity bias,
and RMSE/MAE for models that predict ratings). Prints a table; ``--json`` writes it too.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from recommenders.core.base import InteractionData, Recommender
from recommenders.core.datasets import DatasetFormatError, to_interaction_data
from recommenders.core.evaluation import PROTOCOLS, EvaluationResult, Split, evaluate
from recommenders.core.registry import MODEL_NAMES, create_model
from recommenders.management.options import (
    DATA_FORMATS,
    parse_param,
    positive_int,
    read_in_format,
)

COLUMNS = (  # (heading, EvaluationResult attribute, format)
    ("HR", "hr", "{:.4f}"),
    ("recall", "recall", "{:.4f}"),
    ("prec", "precision", "{:.4f}"),
    ("NDCG", "ndcg", "{:.4f}"),
    ("MAP", "map", "{:.4f}"),
    ("cover", "coverage", "{:.3f}"),
    ("pop", "popularity_bias", "{:.3f}"),
    ("cold", "fallback_share", "{:.3f}"),
    ("fit s", "fit_seconds", "{:.2f}"),
    ("rec s", "recommend_seconds", "{:.2f}"),
    ("RMSE", "rmse", "{:.4f}"),
    ("MAE", "mae", "{:.4f}"),
)


class Command(BaseCommand):
    help = "Evaluate recommenders offline on a dataset under one protocol; print a table."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--data", required=True, help="dataset folder or file")
        parser.add_argument(
            "--models", required=True, help=f"comma-separated, from: {', '.join(MODEL_NAMES)}"
        )
        parser.add_argument("--protocol", choices=sorted(PROTOCOLS), default="leave-last-out")
        parser.add_argument("--k", type=int, default=10, help="list length (default 10)")
        parser.add_argument("--json", dest="json_out", help="also write the results here")
        parser.add_argument(
            "--param",
            action="append",
            default=[],
            metavar="MODEL.NAME=VALUE",
            help="a hyperparameter of one model, e.g. als.factors=64 (repeatable)",
        )
        parser.add_argument("--format", dest="data_format", choices=DATA_FORMATS, default="auto")
        parser.add_argument("--min-value", type=float, help="keep interactions with value >= it")
        parser.add_argument("--binary", action="store_true", help="every kept value becomes 1")
        parser.add_argument(
            "--test-fraction", type=float, default=0.2, help="temporal and random (default 0.2)"
        )
        parser.add_argument("--seed", type=int, default=0, help="random protocol's seed")
        parser.add_argument("--batch-users", type=positive_int, default=4096)

    def handle(self, *args: object, **options: Any) -> None:
        k = options["k"]
        if k <= 0:
            raise CommandError(f"--k must be a positive integer, got {k}")
        names = [n.strip() for n in str(options["models"]).split(",") if n.strip()]
        params = _model_params(names, options["param"])
        models = _create_models(names, params)
        try:
            data = _read(options)
            split = _split(data, options)
            results = [
                evaluate(model, split, k, batch_users=options["batch_users"]) for model in models
            ]
        except (DatasetFormatError, ValueError) as error:
            raise CommandError(str(error)) from error
        self.stdout.write(_header(options, data, split))
        self.stdout.write(_table(results, k))
        if options["json_out"]:
            out = Path(options["json_out"])
            out.parent.mkdir(parents=True, exist_ok=True)
            report = _report(options, data, split, results, models)
            out.write_text(json.dumps(report, indent=2, default=str))
            self.stdout.write(f"Wrote {out}")


def _model_params(names: list[str], raw_params: list[str]) -> dict[str, dict[str, Any]]:
    if not names:
        raise CommandError(f"--models: no model named; known: {', '.join(MODEL_NAMES)}")
    unknown = [n for n in names if n not in MODEL_NAMES]
    if unknown:
        raise CommandError(f"unknown model(s) {unknown}; known models: {', '.join(MODEL_NAMES)}")
    params: dict[str, dict[str, Any]] = {name: {} for name in names}
    for text in raw_params:
        qualified, value = parse_param(text)
        model, dot, name = qualified.partition(".")
        if not dot or not name:
            raise CommandError(f"--param {text!r}: expected model.name=value, e.g. als.factors=64")
        if model not in params:
            raise CommandError(f"--param {text!r}: model {model!r} is not in --models")
        params[model][name] = value
    return params


def _create_models(names: list[str], params: dict[str, dict[str, Any]]) -> list[Recommender]:
    try:
        return [create_model(name, **params[name]) for name in names]
    except (ValueError, TypeError) as error:
        raise CommandError(str(error)) from error


def _read(options: dict[str, Any]) -> InteractionData:
    raw = read_in_format(Path(options["data"]).expanduser(), options["data_format"])
    return to_interaction_data(raw, min_value=options["min_value"], binary=options["binary"])


def _split(data: InteractionData, options: dict[str, Any]) -> Split:
    protocol, fraction = options["protocol"], options["test_fraction"]
    if protocol == "random":
        split = PROTOCOLS[protocol](data, test_fraction=fraction, seed=options["seed"])
    elif protocol == "temporal":
        split = PROTOCOLS[protocol](data, test_fraction=fraction)
    else:
        split = PROTOCOLS[protocol](data)
    if split.test.nnz == 0:
        raise CommandError(
            f"protocol {protocol}: no held-out interactions to evaluate (too few interactions "
            "per user, or no user with interactions on both sides of the split)"
        )
    return split


def _header(options: dict[str, Any], data: InteractionData, split: Split) -> str:
    return (
        f"{options['data']}: {data.n_users} users, {data.n_items} items, "
        f"{data.matrix.nnz} interactions; protocol {split.protocol}, "
        f"{len(split.test_users)} users evaluated, k = {options['k']}"
    )


def _cell(result: EvaluationResult, attribute: str, fmt: str) -> str:
    value = getattr(result, attribute)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return fmt.format(value)


def _table(results: list[EvaluationResult], k: int) -> str:
    headings = ["model"] + [f"{h}@{k}" if a in {"hr", "recall", "precision", "ndcg", "map"} else h
                            for h, a, _ in COLUMNS]  # fmt: skip
    rows = [[r.model] + [_cell(r, a, f) for _, a, f in COLUMNS] for r in results]
    widths = [max(len(row[j]) for row in [headings, *rows]) for j in range(len(headings))]
    lines = [headings, *rows]
    return "\n".join(
        "  ".join(cell.ljust(w) if j == 0 else cell.rjust(w) for j, (cell, w) in
                  enumerate(zip(line, widths, strict=True)))
        for line in lines
    )  # fmt: skip


def _finite(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _report(
    options: dict[str, Any],
    data: InteractionData,
    split: Split,
    results: list[EvaluationResult],
    models: list[Recommender],
) -> dict[str, Any]:
    return {
        "data": str(options["data"]),
        "protocol": split.protocol,
        "k": options["k"],
        "n_users": data.n_users,
        "n_items": data.n_items,
        "n_interactions": int(data.matrix.nnz),
        "n_users_evaluated": int(len(split.test_users)),
        "results": [
            {
                **{key: _finite(value) for key, value in result.as_dict().items()},
                "params": model.params,
            }
            for result, model in zip(results, models, strict=True)
        ],
    }
