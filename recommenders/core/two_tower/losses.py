"""Training losses of the two-tower model (torch, imported lazily by the caller's tensors).

In-batch sampled softmax with the log-Q correction (Yi et al. 2019, "Sampling-bias-corrected
neural modeling for large corpus item recommendations", RecSys, eq. 3): the batch's other
positives serve as negatives, so an item is sampled with probability q_j proportional to its
frequency among the positives; the corrected logit is

    l_ij = <u_i, v_j> / T - log q_j

and the loss is the cross-entropy of row i with target j = i. Accidental hits (column j
holds the same item as row i's positive, j != i) are removed by setting l_ij = -inf, so an
item is never pushed away from itself.

The pairwise option is the contrastive loss over the same in-batch negatives,
``-log sigmoid((s_pos - s_neg) / T)``, averaged over the valid (i, j) pairs (no log-Q).
"""

from __future__ import annotations

from typing import Any


def accidental_hits(item_ids: Any) -> Any:
    """Boolean B x B mask: True where column j holds row i's positive item and j != i."""
    import torch

    hits = item_ids.unsqueeze(0) == item_ids.unsqueeze(1)
    return hits & ~torch.eye(len(item_ids), dtype=torch.bool, device=item_ids.device)


def sampled_softmax_loss(
    user_vecs: Any,
    item_vecs: Any,
    item_ids: Any,
    log_q: Any | None,
    temperature: float,
) -> Any:
    """Mean in-batch softmax cross-entropy with log-Q correction and accidental hits removed.

    ``user_vecs`` and ``item_vecs`` are B x d (row i of each is a positive pair),
    ``item_ids`` the B item indices, ``log_q`` the B log sampling probabilities of the
    batch's items (None: no correction).
    """
    import torch

    logits = user_vecs @ item_vecs.T / temperature
    if log_q is not None:
        logits = logits - log_q.unsqueeze(0)
    logits = logits.masked_fill(accidental_hits(item_ids), float("-inf"))
    targets = torch.arange(len(item_ids), device=logits.device)
    return torch.nn.functional.cross_entropy(logits, targets)


def pairwise_loss(user_vecs: Any, item_vecs: Any, item_ids: Any, temperature: float) -> Any:
    """Mean of -log sigmoid((s_ii - s_ij) / T) over in-batch negatives j (no accidental hits)."""
    import torch

    scores = user_vecs @ item_vecs.T
    positive = scores.diagonal().unsqueeze(1)
    valid = ~accidental_hits(item_ids)
    valid &= ~torch.eye(len(item_ids), dtype=torch.bool, device=scores.device)
    losses = torch.nn.functional.softplus(-(positive - scores) / temperature)
    return losses[valid].mean() if valid.any() else scores.sum() * 0.0
