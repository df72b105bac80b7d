"""The user and item towers: a torch definition for training, a numpy one for serving.

User tower (Covington et al. 2016, "Deep neural networks for YouTube recommendations";
Yi et al. 2019, "Sampling-bias-corrected neural modeling for large corpus item
recommendations")::

    x_u = [ E_uid[u] ; mean_a E_attr[a] ; sum_j w_j E_hist[h_j] / sum_j w_j ;
            E_hour[hour] + E_wday[weekday] + sum_c E_ctx[c] ]        w_j = decay^j, j = 0
    u   = normalise( W2 relu(W1 x_u + b1) + b2 )                      for the latest item

Item tower::

    x_i = [ E_iid[i] ; C_i W_cat ; mean_t E_tok[t] ; z_i W_num ; E_pop[bucket_i] ]
    v   = normalise( W2' relu(W1' x_i + b1') + b2' )

with C_i the item's categories (row-normalised multi-hot), t its hashed title tokens,
z_i its standardised numeric attributes. Both outputs are L2-normalised, the score is
s(u, i) = <u, v_i> (cosine). The numpy forward reproduces the torch forward exactly (up
to float rounding); serving never imports torch.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np

from recommenders.core.two_tower.inputs import N_HOURS, N_POPULARITY_BUCKETS, N_WEEKDAYS

USER_PARAMS = (
    "uid_emb",
    "attr_emb",
    "hist_emb",
    "hour_emb",
    "weekday_emb",
    "context_emb",
    "user_w1",
    "user_b1",
    "user_w2",
    "user_b2",
)
ITEM_PARAMS = (
    "iid_emb",
    "cat_w",
    "token_emb",
    "num_w",
    "pop_emb",
    "item_w1",
    "item_b1",
    "item_w2",
    "item_b2",
)


def _normalise(x: np.ndarray) -> np.ndarray:
    norm = np.sqrt((x * x).sum(axis=-1, keepdims=True))
    return x / np.maximum(norm, 1e-12)


def recency_weights(length: int, decay: float) -> np.ndarray:
    """w_j = decay^j for history slot j (0 = most recent)."""
    return decay ** np.arange(length, dtype=np.float32)


def _masked_mean(table: np.ndarray, rows: np.ndarray, weights: np.ndarray | None = None):
    """Weighted mean of table rows over the last axis of ``rows``, ignoring row 0 (padding)."""
    mask = (rows > 0).astype(np.float32)
    if weights is not None:
        mask = mask * weights
    total = (table[rows] * mask[..., None]).sum(axis=-2)
    return total / np.maximum(mask.sum(axis=-1, keepdims=True), 1e-12)


def user_forward_numpy(
    params: dict[str, np.ndarray],
    uid: np.ndarray,
    attrs: np.ndarray,
    history: np.ndarray,
    hour: np.ndarray,
    weekday: np.ndarray,
    context: np.ndarray,
    decay: float,
) -> np.ndarray:
    """User vectors (n x d, unit norm) for n users; inputs as built by ``inputs``."""
    weights = recency_weights(history.shape[1], decay)
    parts = [
        params["uid_emb"][uid],
        _masked_mean(params["attr_emb"], attrs),
        _masked_mean(params["hist_emb"], history, weights),
        params["hour_emb"][hour]
        + params["weekday_emb"][weekday]
        + (params["context_emb"][context] * (context > 0)[..., None]).sum(axis=-2),
    ]
    x = np.concatenate(parts, axis=-1)
    hidden = np.maximum(x @ params["user_w1"] + params["user_b1"], 0.0)
    return _normalise(hidden @ params["user_w2"] + params["user_b2"]).astype(np.float32)


def _project(features: Any, weights: np.ndarray) -> np.ndarray:
    """``features @ weights``; zeros for items without such features (width 0: the weight
    table keeps one row so that a model without them still saves and loads)."""
    if features.shape[1] == 0:
        return np.zeros((features.shape[0], weights.shape[1]), dtype=np.float32)
    return np.asarray(features @ weights)


def item_forward_numpy(params: dict[str, np.ndarray], items: Any, chunk: int = 65536):
    """Item vectors (n x d, unit norm) for an :class:`ItemInputs`, computed in chunks."""
    out = np.empty((len(items), params["item_w2"].shape[1]), dtype=np.float32)
    for start in range(0, len(items), chunk):
        part = items.take(np.arange(start, min(start + chunk, len(items))))
        x = np.concatenate(
            [
                params["iid_emb"][part.ids],
                _project(part.categories, params["cat_w"]),
                _masked_mean(params["token_emb"], part.tokens),
                _project(part.numeric, params["num_w"]),
                params["pop_emb"][part.popularity],
            ],
            axis=-1,
        )
        hidden = np.maximum(x @ params["item_w1"] + params["item_b1"], 0.0)
        out[start : start + len(part)] = _normalise(hidden @ params["item_w2"] + params["item_b2"])
    return out


# numpy name -> attribute path of the torch module
_TORCH_NAMES = {
    "uid_emb": "uid.weight",
    "attr_emb": "attr.weight",
    "hist_emb": "hist.weight",
    "hour_emb": "hour.weight",
    "weekday_emb": "weekday.weight",
    "context_emb": "context.weight",
    "iid_emb": "iid.weight",
    "token_emb": "token.weight",
    "pop_emb": "pop.weight",
}
# the large id and token tables get sparse gradients (SparseAdam): a batch touches few rows
SPARSE_TABLES = ("uid", "hist", "iid", "token")


@cache
def _tower_module_class():
    """The torch module class, defined on first use so that torch is imported lazily."""
    import torch
    from torch import nn

    def _bag(table: nn.EmbeddingBag, rows: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        """The bag of each row of ``rows``; zeros when the rows are empty (no user
        attributes, no item texts): torch refuses a bag input of width 0 ("step must be
        nonzero"), and the numpy forward gives 0 for an empty bag too."""
        if rows.shape[-1] == 0:
            return torch.zeros(rows.shape[0], table.embedding_dim, device=rows.device)
        return table(rows, **kwargs)

    def _matmul(features: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """``features @ weights``, zeros when the items have no such features (width 0)."""
        if features.shape[-1] == 0:
            return torch.zeros(features.shape[0], weights.shape[1], device=weights.device)
        return features @ weights

    class TwoTowerModule(nn.Module):
        """Both towers; ``numpy_params`` exports them under USER_PARAMS / ITEM_PARAMS."""

        def __init__(self, sizes: dict[str, int], dim: int, hidden: int, decay: float):
            super().__init__()
            self.decay = decay

            def table(rows: int, bag: str | None, padded: bool, sparse: bool = False):
                kwargs = {"padding_idx": 0} if padded else {}
                if bag is None:
                    module = nn.Embedding(max(rows, 1), dim, sparse=sparse, **kwargs)
                else:
                    module = nn.EmbeddingBag(max(rows, 1), dim, mode=bag, sparse=sparse, **kwargs)
                with torch.no_grad():
                    module.weight.normal_(0.0, 0.05)
                    if padded:
                        module.weight[0] = 0.0
                return module

            self.uid = table(sizes["users"] + 1, None, False, sparse=True)
            self.attr = table(sizes["attr_rows"], "mean", True)
            self.hist = table(sizes["items"] + 1, "sum", True, sparse=True)
            self.hour = table(N_HOURS + 1, None, False)
            self.weekday = table(N_WEEKDAYS + 1, None, False)
            self.context = table(sizes["context_buckets"], "sum", True)
            # hashed context values never seen in training must add nothing: start at zero
            with torch.no_grad():
                self.context.weight.zero_()
            self.user_w1, self.user_b1 = self._linear(4 * dim, hidden)
            self.user_w2, self.user_b2 = self._linear(hidden, dim)
            self.iid = table(sizes["items"] + 1, None, False, sparse=True)
            self.cat_w = nn.Parameter(torch.randn(max(sizes["categories"], 1), dim) * 0.05)
            self.token = table(sizes["text_buckets"], "mean", True, sparse=True)
            self.num_w = nn.Parameter(torch.randn(max(sizes["numeric"], 1), dim) * 0.05)
            self.pop = table(N_POPULARITY_BUCKETS, None, False)
            self.item_w1, self.item_b1 = self._linear(5 * dim, hidden)
            self.item_w2, self.item_b2 = self._linear(hidden, dim)

        @staticmethod
        def _linear(fan_in: int, fan_out: int) -> tuple[nn.Parameter, nn.Parameter]:
            bound = np.sqrt(6.0 / fan_in)  # He uniform, for the ReLU that follows
            weight = (torch.rand(fan_in, fan_out) * 2 - 1) * bound
            return nn.Parameter(weight), nn.Parameter(torch.zeros(fan_out))

        def parameter_groups(self) -> tuple[list, list]:
            """(sparse-gradient parameters, dense ones), for SparseAdam and Adam."""
            sparse = [getattr(self, name).weight for name in SPARSE_TABLES]
            ids = {id(p) for p in sparse}
            return sparse, [p for p in self.parameters() if id(p) not in ids]

        def users(self, uid, attrs, history, hour, weekday, context):
            weights = self.decay ** torch.arange(
                history.shape[1], dtype=torch.float32, device=history.device
            )
            weights = weights * (history > 0).float()
            weights = weights / weights.sum(dim=1, keepdim=True).clamp_min(1e-12)
            x = torch.cat(
                [
                    self.uid(uid),
                    _bag(self.attr, attrs),
                    _bag(self.hist, history, per_sample_weights=weights),
                    self.hour(hour) + self.weekday(weekday) + _bag(self.context, context),
                ],
                dim=-1,
            )
            hidden = torch.relu(x @ self.user_w1 + self.user_b1)
            return nn.functional.normalize(hidden @ self.user_w2 + self.user_b2, dim=-1)

        def items(self, ids, categories, tokens, numeric, popularity):
            x = torch.cat(
                [
                    self.iid(ids),
                    _matmul(categories, self.cat_w),
                    _bag(self.token, tokens),
                    _matmul(numeric, self.num_w),
                    self.pop(popularity),
                ],
                dim=-1,
            )
            hidden = torch.relu(x @ self.item_w1 + self.item_b1)
            return nn.functional.normalize(hidden @ self.item_w2 + self.item_b2, dim=-1)

        def _tensor(self, name: str):
            path = _TORCH_NAMES.get(name, name).split(".")
            value = self
            for part in path:
                value = getattr(value, part)
            return value

        def numpy_params(self) -> dict[str, np.ndarray]:
            return {
                name: self._tensor(name).detach().cpu().numpy().astype(np.float32).copy()
                for name in USER_PARAMS + ITEM_PARAMS
            }

        def load_numpy_params(self, params: dict[str, np.ndarray]) -> None:
            with torch.no_grad():
                for name in USER_PARAMS + ITEM_PARAMS:
                    self._tensor(name).copy_(torch.from_numpy(params[name]))

    return TwoTowerModule


def build_module(sizes: dict[str, int], dim: int, hidden: int, decay: float, seed: int):
    """A freshly initialised :class:`TwoTowerModule` (seeded)."""
    import torch

    torch.manual_seed(seed)
    return _tower_module_class()(sizes, dim, hidden, decay)
