"""The ranking model: a small MLP over the candidate features, trained listwise.

Why an MLP and not gradient-boosted trees: it needs no new dependency (torch is already
there for the towers), it is scored in numpy in a few microseconds per candidate list
(three small matrix products, no torch at serving time and no extra thread pool to
fork-protect), and its softmax loss over the candidate list optimises the quantity the
pipeline is judged on (the position of the held-out item among the candidates).

Training data: for each user, the held-out interaction (label) and ``negatives`` items
sampled uniformly from the same user's candidate list (the distribution the ranker sees
at serving). Loss: the sampled softmax (ListNet top-1, Cao et al. 2007, "Learning to
rank: from pairwise approach to listwise approach")

    L = - log( exp f(x_pos) / sum_{j in {pos} + negatives} exp f(x_j) ),
    f(x) = w3 . relu(W2 relu(W1 z + b1) + b2) + b3,   z = (x - mean) / std.

Early stopping on the loss of 10% of the users held out; seeded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

PARAM_NAMES = ("mean", "std", "w1", "b1", "w2", "b2", "w3", "b3")


@dataclass
class MLPRanker:
    """Weights of the ranking MLP (numpy) and its training log."""

    weights: dict[str, np.ndarray] = field(default_factory=dict)
    validation_loss: list[float] = field(default_factory=list)

    def predict(self, features: np.ndarray) -> np.ndarray:
        """f(x) for each row of ``features`` (n x n_features): higher ranks first."""
        w = self.weights
        z = (features - w["mean"]) / w["std"]
        hidden = np.maximum(z @ w["w1"] + w["b1"], 0.0)
        hidden = np.maximum(hidden @ w["w2"] + w["b2"], 0.0)
        return (hidden @ w["w3"] + w["b3"]).ravel()

    @classmethod
    def fit(cls, groups: np.ndarray, hparams: dict[str, Any]) -> MLPRanker:
        """Train on ``groups`` (n_groups x (1 + negatives) x n_features, positive first)."""
        import torch

        seed = int(hparams["seed"])
        if hparams.get("threads"):
            torch.set_num_threads(int(hparams["threads"]))
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        flat = groups.reshape(-1, groups.shape[-1])
        mean = flat.mean(axis=0).astype(np.float32)
        std = np.maximum(flat.std(axis=0), 1e-3).astype(np.float32)
        order = rng.permutation(len(groups))
        n_val = max(1, len(groups) // 10)
        val, train = order[:n_val], order[n_val:]
        data = torch.from_numpy(((groups - mean) / std).astype(np.float32))
        hidden = int(hparams["hidden"])
        model = torch.nn.Sequential(
            torch.nn.Linear(groups.shape[-1], hidden),
            torch.nn.ReLU(),
            torch.nn.Linear(hidden, hidden // 2),
            torch.nn.ReLU(),
            torch.nn.Linear(hidden // 2, 1),
        )
        optimizer = torch.optim.Adam(
            model.parameters(), lr=hparams["learning_rate"], weight_decay=hparams["weight_decay"]
        )
        ranker = cls()
        best_state, best_loss, stale = None, np.inf, 0
        for _ in range(int(hparams["epochs"])):
            model.train()
            for start in range(0, len(train), int(hparams["batch_size"])):
                batch = torch.from_numpy(train[start : start + int(hparams["batch_size"])])
                loss = _listwise_loss(model(data[batch]).squeeze(-1))
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            train = train[rng.permutation(len(train))]
            with torch.no_grad():
                val_loss = float(_listwise_loss(model(data[torch.from_numpy(val)]).squeeze(-1)))
            ranker.validation_loss.append(val_loss)
            if val_loss < best_loss - 1e-4:
                best_loss, stale = val_loss, 0
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                stale += 1
                if stale >= int(hparams["patience"]):
                    break
        assert best_state is not None
        model.load_state_dict(best_state)
        layers = [model[0], model[2], model[4]]
        ranker.weights = {"mean": mean, "std": std}
        for number, layer in enumerate(layers, start=1):
            ranker.weights[f"w{number}"] = layer.weight.detach().numpy().T.copy()
            ranker.weights[f"b{number}"] = layer.bias.detach().numpy().copy()
        return ranker

    def save(self, folder: Path) -> None:
        np.savez(folder / "ranker.npz", **self.weights)

    @classmethod
    def load(cls, folder: Path) -> MLPRanker:
        with np.load(folder / "ranker.npz") as arrays:
            return cls({name: arrays[name] for name in PARAM_NAMES})


def _listwise_loss(logits: Any) -> Any:
    """Softmax cross-entropy with the positive in column 0."""
    import torch

    targets = torch.zeros(len(logits), dtype=torch.long)
    return torch.nn.functional.cross_entropy(logits, targets)


def sample_groups(
    features: np.ndarray, positive: int, n_negatives: int, rng: np.random.Generator
) -> np.ndarray | None:
    """(1 + n_negatives) x n_features rows: the positive row first, then sampled negatives
    (with replacement when the list is short); None when there is no negative."""
    others = np.delete(np.arange(len(features)), positive)
    if len(others) == 0:
        return None
    chosen = rng.choice(others, size=n_negatives, replace=len(others) < n_negatives)
    return features[np.concatenate([[positive], chosen])]
