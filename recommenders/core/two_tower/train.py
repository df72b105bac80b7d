"""The training loop of the two towers: seeded, early-stopped, CPU or CUDA with one code path.

Each positive interaction (u, i, t) is one example: the user tower sees u's id, attributes,
the ``history_length`` items u interacted with before t (most recent first) and the hour
and weekday of t; the item tower sees item i. Ids are dropped to the "unknown" slot with
probability ``id_dropout`` (the item's popularity bucket with it), so that the towers
also place new users and new items from their other inputs.

Early stopping: the latest interaction of up to ``validation_users`` users is held out;
after each epoch, recall@``validation_k`` over the whole catalogue (seen items excluded)
is measured, the best epoch's weights are kept, and training stops after ``patience``
epochs without improvement.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from recommenders.core.two_tower.inputs import CONTEXT_KEYS, Events, ItemInputs, hour_weekday
from recommenders.core.two_tower.losses import pairwise_loss, sampled_softmax_loss
from recommenders.core.two_tower.towers import (
    build_module,
    item_forward_numpy,
    user_forward_numpy,
)


@dataclass
class TrainingLog:
    """What training did: per-epoch loss, validation recall and seconds; the best epoch."""

    epoch_loss: list[float] = field(default_factory=list)
    epoch_recall: list[float] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)
    best_epoch: int = -1
    device: str = "cpu"


@dataclass
class TrainingSet:
    """Examples (one per positive event) and the fixed inputs they index into."""

    events: Events
    user_attrs: np.ndarray  # n_users x n_attributes rows of the attribute table
    items: ItemInputs  # inputs of every trained item
    seen: sp.csr_matrix  # users x items training interactions (for validation masking)


def resolve_device(device: str) -> str:
    """'auto' -> 'cuda' when torch sees a GPU, else 'cpu'; other values are kept."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def split_validation(events: Events, n_users: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Event rows for training and for validation (the latest event of sampled users)."""
    counts = np.diff(events.user_start)
    eligible = np.flatnonzero(counts >= 3)
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(eligible, size=min(n_users, len(eligible)), replace=False))
    validation = events.user_start[chosen + 1] - 1
    is_validation = np.zeros(len(events.users), dtype=bool)
    is_validation[validation] = True
    return np.flatnonzero(~is_validation), validation


def _log_q(events: Events, rows: np.ndarray, n_items: int) -> np.ndarray:
    """log of each item's frequency among the training positives (its sampling probability)."""
    counts = np.bincount(events.items[rows], minlength=n_items).astype(np.float64)
    return np.log(np.maximum(counts, 0.5) / max(counts.sum(), 1.0)).astype(np.float32)


def validation_recall(
    params: dict[str, np.ndarray],
    data: TrainingSet,
    rows: np.ndarray,
    hparams: dict[str, Any],
) -> float:
    """recall@k of the held-out events over the whole catalogue, seen items excluded."""
    if len(rows) == 0:
        return 0.0
    events = data.events
    item_vecs = item_forward_numpy(params, data.items)
    users = events.users[rows]
    hour, weekday = hour_weekday(events.timestamps[rows - 1])
    user_vecs = user_forward_numpy(
        params,
        users + 1,
        data.user_attrs[users],
        events.histories(hparams["history_length"], rows),
        hour,
        weekday,
        np.zeros((len(rows), len(CONTEXT_KEYS)), dtype=np.int64),
        hparams["recency_decay"],
    )
    scores = user_vecs @ item_vecs.T
    targets = events.items[rows]
    target_scores = scores[np.arange(len(rows)), targets].copy()
    seen = data.seen[users].tocoo()  # the training items, held-out one included
    scores[seen.row, seen.col] = -np.inf
    rank = (scores > target_scores[:, None]).sum(axis=1)
    k = validation_cutoff(hparams["validation_k"], scores.shape[1])
    # recall@k, ties between epochs broken by the mean reciprocal rank
    return float(np.mean(rank < k) + 1e-3 * np.mean(1.0 / (rank + 1)))


def validation_cutoff(k: int, n_items: int) -> int:
    """The early-stopping cut-off: k, at most a tenth of the catalogue (at least 1)."""
    return int(max(1, min(k, n_items // 10)))


def effective_batch_size(batch_size: int, n_examples: int) -> int:
    """The batch size, reduced on tiny data so that an epoch has at least 8 steps."""
    return int(max(2, min(batch_size, max(32, n_examples // 8))))


def train_towers(
    data: TrainingSet,
    sizes: dict[str, int],
    hparams: dict[str, Any],
) -> tuple[dict[str, np.ndarray], TrainingLog]:
    """Train both towers; returns the best epoch's weights as numpy arrays and the log."""
    import torch

    device = resolve_device(hparams["device"])
    if hparams.get("threads"):
        torch.set_num_threads(int(hparams["threads"]))
    seed = int(hparams["seed"])
    module = build_module(
        sizes, hparams["dim"], hparams["hidden"], hparams["recency_decay"], seed
    ).to(device)
    sparse, dense = module.parameter_groups()
    optimizer = _Optimizers(
        torch.optim.SparseAdam(sparse, lr=hparams["learning_rate"]),
        torch.optim.Adam(dense, lr=hparams["learning_rate"]),
    )
    events = data.events
    train_rows, val_rows = split_validation(events, hparams["validation_users"], seed)
    log_q_all = torch.from_numpy(_log_q(events, train_rows, sizes["items"])).to(device)
    tensors = _device_tensors(data, hparams, device)
    rng = np.random.default_rng(seed)
    log = TrainingLog(device=device)
    best: dict[str, np.ndarray] | None = None
    best_recall, stale = -1.0, 0
    for epoch in range(int(hparams["epochs"])):
        started = time.perf_counter()
        loss = run_epoch(module, optimizer, tensors, events, train_rows, log_q_all, hparams, rng)
        params = module.numpy_params()
        recall = validation_recall(params, data, val_rows, hparams)
        log.epoch_loss.append(loss)
        log.epoch_recall.append(recall)
        log.epoch_seconds.append(time.perf_counter() - started)
        if recall > best_recall:
            best, best_recall, stale, log.best_epoch = params, recall, 0, epoch
        else:
            stale += 1
            if stale >= int(hparams["patience"]):
                break
    assert best is not None
    return best, log


class _Optimizers:
    """SparseAdam for the big tables and Adam for the rest, stepped together."""

    def __init__(self, *optimizers: Any) -> None:
        self.optimizers = optimizers

    def zero_grad(self, set_to_none: bool = True) -> None:
        for optimizer in self.optimizers:
            optimizer.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        for optimizer in self.optimizers:
            optimizer.step()


def _device_tensors(data: TrainingSet, hparams: dict[str, Any], device: str) -> dict[str, Any]:
    import torch

    events = data.events
    hour, weekday = hour_weekday(events.timestamps)
    return {
        "histories": torch.from_numpy(events.histories(hparams["history_length"]).astype(np.int32)),
        "hour": torch.from_numpy(hour),
        "weekday": torch.from_numpy(weekday),
        "user_attrs": torch.from_numpy(data.user_attrs).to(device),
        "item_ids": torch.from_numpy(data.items.ids).to(device),
        "categories": torch.from_numpy(data.items.categories.toarray()).to(device),
        "tokens": torch.from_numpy(data.items.tokens.astype(np.int64)).to(device),
        "numeric": torch.from_numpy(data.items.numeric).to(device),
        "popularity": torch.from_numpy(data.items.popularity).to(device),
        "n_context": len(CONTEXT_KEYS),
    }


def run_epoch(
    module: Any,
    optimizer: Any,
    tensors: dict[str, Any],
    events: Events,
    rows: np.ndarray,
    log_q_all: Any,
    hparams: dict[str, Any],
    rng: np.random.Generator,
) -> float:
    """One pass over the training events in shuffled batches; returns the mean loss."""
    import torch

    device = log_q_all.device
    batch = effective_batch_size(int(hparams["batch_size"]), len(rows))
    order = rows[rng.permutation(len(rows))]
    users_all = torch.from_numpy(events.users)
    items_all = torch.from_numpy(events.items)
    total, n_batches = 0.0, 0
    for start in range(0, len(order), batch):
        chosen = torch.from_numpy(order[start : start + batch])
        if len(chosen) < 2:
            continue
        users = users_all[chosen].to(device)
        items = items_all[chosen].to(device)
        drop_user = torch.from_numpy(rng.random(len(chosen)) < hparams["id_dropout"]).to(device)
        unique, inverse = torch.unique(items, return_inverse=True)
        drop_item = torch.from_numpy(rng.random(len(unique)) < hparams["id_dropout"]).to(device)
        user_vecs = module.users(
            torch.where(drop_user, 0, users + 1),
            tensors["user_attrs"][users],
            tensors["histories"][chosen].to(device).long(),
            tensors["hour"][chosen].to(device),
            tensors["weekday"][chosen].to(device),
            torch.zeros((len(chosen), tensors["n_context"]), dtype=torch.long, device=device),
        )
        item_vecs = module.items(
            torch.where(drop_item, 0, tensors["item_ids"][unique]),
            tensors["categories"][unique],
            tensors["tokens"][unique],
            tensors["numeric"][unique],
            torch.where(drop_item, 0, tensors["popularity"][unique]),
        )[inverse]
        if hparams["loss"] == "pairwise":
            loss = pairwise_loss(user_vecs, item_vecs, items, hparams["temperature"])
        else:
            log_q = log_q_all[items] if hparams["log_q_correction"] else None
            loss = sampled_softmax_loss(user_vecs, item_vecs, items, log_q, hparams["temperature"])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += float(loss.detach())
        n_batches += 1
    return total / max(n_batches, 1)
