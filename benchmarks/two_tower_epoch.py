"""Time one two-tower training epoch over ML-1M positives and print the device it ran on.

The epoch is the model's own training loop (``two_tower.train``): every positive
interaction once, batches of 1024, in-batch softmax with log-Q correction, SparseAdam +
Adam, the numpy export of the weights at its end. Runs on CPU with ``--threads`` torch
threads, or on CUDA (``--device cuda``; ``auto`` picks CUDA when present). The timed part
needs torch only (no FAISS). Prints one line.

    python benchmarks/two_tower_epoch.py [--device auto|cpu|cuda] [--threads 2] [--quick]

``--quick``: 300 users (a smoke run).
"""

from __future__ import annotations

import argparse

from _pipeline_support import load_ml1m, ml1m_ratings_path, verdict

from recommenders.core.base import InteractionData
from recommenders.core.two_tower import TwoTowerRecommender
from recommenders.core.two_tower.inputs import Events, ItemEncoding, UserEncoding
from recommenders.core.two_tower.train import TrainingSet, train_towers


def time_one_epoch(data: InteractionData, device: str, threads: int) -> tuple[float, str, int]:
    """(seconds of one epoch, device used, number of examples)."""
    p = {**TwoTowerRecommender.default_params, "epochs": 1, "validation_users": 0}
    p.update(device=device, threads=threads)
    seen = data.matrix.copy()
    seen.data[:] = 1.0
    counts = seen.sum(axis=0).A1
    item_encoding = ItemEncoding.fit(data.item_features, p["text_buckets"], p["max_tokens"])
    user_encoding = UserEncoding.fit(data.user_features, p["max_attribute_values"])
    items = item_encoding.transform(data.item_features, data.n_items, counts, first_index=0)
    training = TrainingSet(
        Events.from_data(data),
        user_encoding.encode_all(data.user_features, data.n_users),
        items,
        seen,
    )
    sizes = {
        "users": data.n_users,
        "items": data.n_items,
        "attr_rows": user_encoding.n_rows,
        "context_buckets": p["context_buckets"],
        "categories": item_encoding.n_categories,
        "text_buckets": p["text_buckets"],
        "numeric": len(item_encoding.numeric_mean),
    }
    _, log = train_towers(training, sizes, p)
    return log.epoch_seconds[0], log.device, int(data.matrix.nnz)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--data", default=None)
    args = parser.parse_args()
    data = load_ml1m(ml1m_ratings_path(args.data), 300 if args.quick else None)
    seconds, device, n = time_one_epoch(data, args.device, args.threads)
    name = device
    if device == "cuda":
        import torch

        name = f"cuda ({torch.cuda.get_device_name(0)})"
    target = "target <= 30 s on 2 CPU cores"
    print(
        f"two_tower_epoch {n:,} positives, device {name}, {args.threads} CPU threads: "
        f"{seconds:.1f} s ({target}) {verdict(seconds <= 30)}"
    )


if __name__ == "__main__":
    main()
