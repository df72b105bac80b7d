"""Off-policy evaluation of a candidate configuration on the lists production served.

For every served list in the window that carries propensities (``ServedList.exploration``
set, see :mod:`recommenders.core.served_exploration`), the candidate's *sorted* list for the
same request is computed in process (its active version, warm in this process's model cache,
through the one serving path ``recommend_one``). With ``r_ij`` the click at position ``j``
(a click event with the list's ``request_id`` on the item shown there), ``pi_0`` the logged
marginal propensity and ``pi_e = 1[candidate shows the logged item at j]``, the estimators of
:mod:`analytics.offpolicy` give the candidate's expected clicks per list; CTR per impression
is that divided by the list length ``k``.

The reward model of DM and DR is a click model fitted on the same logs that sees the user
(:mod:`recommenders.selectors.offpolicy_reward_model`): per position an intercept, per
(user, item) the item's smoothed click rate and production's logged score of the item for
this user. DR stays unbiased whatever ``q`` is; DM is only as good as ``q``.

The pseudo-inverse slate estimator (PI, :mod:`recommenders.selectors.offpolicy_slates`)
reads the whole logged slate against the logging policy's slot Gram matrix, estimated per
ranked pool; it uses Plackett-Luce lists only, at most ``pi_max_contexts`` pools.

Production's observed CTR on the same lists is the mean clicks per list, with the same
clustered-by-user interval (``ips`` with ``pi_e = pi_0``, i.e. weights 1).

Refused with :class:`OffPolicyInputError` (one line naming the problem, never a number): an
unknown candidate, a candidate without an active version, a window without served lists, a
window whose lists carry no propensities (served before exploration logging), no clicks
attributable to the window's lists.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from analytics.models import Event, EventType, ServedList
from analytics.offpolicy import OffPolicyEstimate, direct_method, doubly_robust, ips, snips
from recommenders.core.served_exploration import ExplorationSettings, logged_marginals
from recommenders.models import RecommenderConfig
from recommenders.selectors.offpolicy_reward_model import UserAwareClickModel
from recommenders.selectors.offpolicy_slates import MAX_CONTEXTS, pseudo_inverse_on_logs
from recommenders.serving.model_cache import ArtifactsMissing, LoadedVersion, warm_version
from recommenders.serving.selectors import active_versions
from recommenders.serving.worker import recommend_for_user

MAX_LISTS = 200_000
CLICK_BATCH = 5000


class OffPolicyInputError(ValueError):
    """An evaluation that cannot give a valid number; the message names the problem."""


@dataclass(frozen=True)
class EstimateRow:
    """One estimator's result (or why it could not estimate), per list and per impression."""

    estimator: str
    clicks_per_list: float | None
    ci_per_list: tuple[float, float] | None
    ctr: float | None
    ci_ctr: tuple[float, float] | None
    interval_method: str
    effective_sample_size: float | None
    warnings: tuple[str, ...] = ()
    error: str = ""
    note: str = ""  # which lists an estimator used, where not all


@dataclass(frozen=True)
class OffPolicyReport:
    candidate: str
    candidate_version: int
    since: datetime
    until: datetime | None
    surface: str
    clip: float | None
    k: int
    n_lists: int
    n_users: int
    n_clicks: int
    production: EstimateRow
    estimates: list[EstimateRow]
    excluded: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        data = asdict(self)
        data["since"] = self.since.isoformat()
        data["until"] = None if self.until is None else self.until.isoformat()
        return data


@dataclass
class _Logs:
    request_ids: list[str]
    user_ids: list[str]
    surfaces: list[str]
    served_at: list[datetime]
    items: list[list[str]]
    scores: np.ndarray  # (n, k): production's score of each served item, NaN where unlogged
    explorations: list[dict[str, Any]]  # each list's exploration log (policy, pool)
    propensities: np.ndarray  # (n, k)


def evaluate_candidate(
    candidate: str,
    since: datetime,
    until: datetime | None = None,
    surface: str = "",
    clip: float | None = None,
    max_lists: int = MAX_LISTS,
    pi_max_contexts: int = MAX_CONTEXTS,
) -> OffPolicyReport:
    """The candidate's estimated CTR against production's observed CTR (module docstring),
    on the first ``max_lists`` lists of the window (the rest counted as excluded)."""
    config = RecommenderConfig.objects.filter(name=candidate).first()
    if config is None:
        raise OffPolicyInputError(f"candidate: no recommender configuration named {candidate!r}")
    loaded = _candidate_version(config)
    logs, excluded = _logged_lists(since, until, surface, max_lists)
    rewards = _rewards(logs)
    if rewards.sum() == 0:
        raise OffPolicyInputError(
            f"window: none of the {len(logs.request_ids)} lists with propensities has a click "
            "event (clicks carry the list's request_id); nothing to estimate from"
        )
    target_items = _candidate_lists(loaded, logs)
    k = logs.propensities.shape[1]
    target = np.array(
        [[t[j] == shown[j] if j < len(t) else False for j in range(k)]
         for t, shown in zip(target_items, logs.items, strict=True)],
        dtype=float,
    )  # fmt: skip
    q = UserAwareClickModel(logs.user_ids, logs.items, logs.scores, rewards)
    q_logged = q.predict(logs.user_ids, logs.items)
    q_target = q.predict(logs.user_ids, target_items)
    estimates = _estimates(rewards, logs, target, q_logged, q_target, clip, k)
    estimates.append(_pi_row(logs, target_items, rewards, k, pi_max_contexts))
    production = _row(
        "production (observed)",
        lambda: ips(rewards, logs.propensities, logs.propensities, user_ids=logs.user_ids),
        k,
    )
    return OffPolicyReport(
        candidate=candidate,
        candidate_version=loaded.version_id,
        since=since,
        until=until,
        surface=surface,
        clip=clip,
        k=k,
        n_lists=len(logs.request_ids),
        n_users=len(set(logs.user_ids)),
        n_clicks=int(rewards.sum()),
        production=production,
        estimates=estimates,
        excluded=excluded,
    )


def _candidate_version(config: RecommenderConfig) -> LoadedVersion:
    active_versions(refresh=True)  # a version promoted a moment ago, not the TTL's view
    try:
        loaded = warm_version(config.pk)
    except ArtifactsMissing as error:
        raise OffPolicyInputError(
            f"candidate: the active version of {config.name!r} cannot be loaded ({error})"
        ) from error
    if loaded is None:
        raise OffPolicyInputError(
            f"candidate: {config.name!r} has no active model version (train and promote one)"
        )
    return loaded


def _logged_lists(
    since: datetime, until: datetime | None, surface: str, max_lists: int
) -> tuple[_Logs, dict[str, int]]:
    rows = ServedList.objects.filter(served_at__gte=since)
    if until is not None:
        rows = rows.filter(served_at__lt=until)
    if surface:
        rows = rows.filter(surface=surface)
    ordered = rows.order_by("served_at", "id")
    window = list(
        ordered.values_list(
            "request_id", "user_id", "surface", "served_at", "items", "exploration"
        )[: max_lists + 1]
    )
    if not window:
        raise OffPolicyInputError("window: no served lists in the window (no traffic)")
    excluded: Counter[str] = Counter()
    if len(window) > max_lists:
        window = window[:max_lists]
        excluded[f"after the first {max_lists} of the window"] = ordered.count() - max_lists
    with_propensities = [row for row in window if row[5] and row[4]]
    excluded["without propensities"] = len(window) - len(with_propensities)
    if not with_propensities:
        raise OffPolicyInputError(
            f"logs: none of the {len(window)} served lists in the window carries propensities "
            "(served before exploration logging was on, or by a fallback)"
        )
    k = Counter(len(row[4]) for row in with_propensities).most_common(1)[0][0]
    kept = [row for row in with_propensities if len(row[4]) == k]
    excluded[f"of another length than {k}"] = len(with_propensities) - len(kept)
    memo: dict[tuple, np.ndarray] = {}
    propensities = np.array([_propensities(row[4], row[5], k, memo) for row in kept])
    logs = _Logs(
        request_ids=[row[0] for row in kept],
        user_ids=[row[1] for row in kept],
        surfaces=[row[2] for row in kept],
        served_at=[row[3] for row in kept],
        items=[[str(item["item_id"]) for item in row[4]] for row in kept],
        scores=np.array([[_score(item) for item in row[4]] for row in kept]),
        explorations=[row[5] for row in kept],
        propensities=propensities,
    )
    return logs, {reason: n for reason, n in excluded.items() if n}


def _propensities(
    items: list[dict[str, Any]], log: dict[str, Any], k: int, memo: dict[tuple, np.ndarray]
) -> list[float]:
    """Each logged item's marginal propensity at its position, recomputed from the
    Plackett-Luce pool where the record carries none (``memo``: marginals per pool, which
    repeat for a user between retrainings; ~20 ms each for a pool of 50)."""
    logged = [item.get("propensity") for item in items]
    if all(p is not None for p in logged):
        return [float(p) for p in logged]  # type: ignore[arg-type]
    return logged_marginals(log, k, memo)


def _rewards(logs: _Logs) -> np.ndarray:
    """``r_ij``: 1 when a click on the list's request hit the item at position ``j``."""
    position_of = {
        request_id: {item: j for j, item in enumerate(items)}
        for request_id, items in zip(logs.request_ids, logs.items, strict=True)
    }
    row_of = {request_id: i for i, request_id in enumerate(logs.request_ids)}
    rewards = np.zeros(logs.propensities.shape)
    request_ids = list(row_of)
    for start in range(0, len(request_ids), CLICK_BATCH):  # bounded IN lists
        clicks = Event.objects.filter(
            type=EventType.CLICK, request_id__in=request_ids[start : start + CLICK_BATCH]
        ).values_list("request_id", "item_id")
        for request_id, item_id in clicks:
            j = position_of[request_id].get(str(item_id))
            if j is not None:
                rewards[row_of[request_id], j] = 1.0
    return rewards


def _candidate_lists(loaded: LoadedVersion, logs: _Logs) -> list[list[str]]:
    """The candidate's sorted list for each logged request (same user, surface and time)."""
    k = logs.propensities.shape[1]
    sorted_policy = ExplorationSettings()
    lists = []
    for user_id, surface, served_at in zip(
        logs.user_ids, logs.surfaces, logs.served_at, strict=True
    ):
        context = {"surface": surface, "timestamp": served_at.timestamp()}
        items, _, _ = recommend_for_user(loaded, user_id, k, context, sorted_policy)
        lists.append([item["item_id"] for item in items])
    return lists


def _score(item: dict[str, Any]) -> float:
    """The ranker's logged score of a served item (NaN where the record has none)."""
    try:
        return float(item.get("score"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


def _pi_row(
    logs: _Logs, target_items: list[list[str]], rewards: np.ndarray, k: int, max_contexts: int
) -> EstimateRow:
    """PI's row; when it cannot estimate, the row says why."""
    try:
        slate = pseudo_inverse_on_logs(
            logs.explorations, logs.items, target_items, rewards, logs.user_ids,
            max_contexts=max_contexts,
        )  # fmt: skip
    except ValueError as error:
        return EstimateRow("PI", None, None, None, None, "", None, (), str(error))
    return _estimate_row("PI", slate.estimate, k, slate.note)


def _estimates(
    rewards: np.ndarray,
    logs: _Logs,
    target: np.ndarray,
    q_logged: np.ndarray,
    q_target: np.ndarray,
    clip: float | None,
    k: int,
) -> list[EstimateRow]:
    users = logs.user_ids
    p0 = logs.propensities
    return [
        _row("DM", lambda: direct_method(q_target, user_ids=users), k),
        _row("IIPS", lambda: ips(rewards, p0, target, user_ids=users, clip=clip), k),
        _row("SNIIPS", lambda: snips(rewards, p0, target, user_ids=users, clip=clip), k),
        _row(
            "DR",
            lambda: doubly_robust(
                rewards, p0, target, q_logged, q_target, user_ids=users, clip=clip
            ),
            k,
        ),
    ]


def _row(name: str, estimate: Any, k: int) -> EstimateRow:
    """One estimator's row; an estimator that cannot estimate says why instead."""
    try:
        result = estimate()
    except ValueError as error:
        return EstimateRow(name, None, None, None, None, "", None, (), str(error))
    return _estimate_row(name, result, k)


def _estimate_row(name: str, result: OffPolicyEstimate, k: int, note: str = "") -> EstimateRow:
    low, high = result.ci
    return EstimateRow(
        estimator=result.estimator if name != "production (observed)" else name,
        clicks_per_list=result.value,
        ci_per_list=(low, high),
        ctr=result.value / k,
        ci_ctr=(low / k, high / k),
        interval_method=result.interval_method,
        effective_sample_size=result.effective_sample_size,
        warnings=result.warnings,
        note=note,
    )


def parse_window(since: str, until: str | None = None) -> tuple[datetime, datetime | None]:
    """``YYYY-MM-DD`` dates as UTC bounds: from the start of ``since`` to the end of
    ``until`` (inclusive; None: open)."""
    from datetime import UTC, timedelta

    def day(name: str, text: str) -> datetime:
        try:
            return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError as error:
            raise OffPolicyInputError(
                f"{name}: expected a date YYYY-MM-DD, got {text!r}"
            ) from error

    start = day("logged-since", since)
    end = None if not until else day("until", until) + timedelta(days=1)
    if end is not None and end <= start:
        raise OffPolicyInputError("until: must not be before logged-since")
    return start, end


def report_lines(report: OffPolicyReport) -> list[str]:
    """The report as a printable table (per list and per impression, with intervals)."""
    until = "now" if report.until is None else f"{report.until:%Y-%m-%d %H:%M}"
    lines = [
        f"candidate {report.candidate} (version {report.candidate_version}); lists served "
        f"{report.since:%Y-%m-%d} to {until}"
        + (f" on {report.surface}" if report.surface else "")
        + f": {report.n_lists} lists of {report.k}, {report.n_users} users, "
        f"{report.n_clicks} clicks" + (f"; clip {report.clip}" if report.clip else ""),
    ]
    lines += [f"excluded: {n} lists {reason}" for reason, n in report.excluded.items()]
    lines.append(
        f"{'estimator':<22} {'clicks/list':>11} {'95% CI':>19} {'CTR':>8} {'95% CI':>19} "
        f"{'ESS':>9}  interval"
    )
    for row in [report.production, *report.estimates]:
        if row.error:
            lines.append(f"{row.estimator:<22} not estimable: {row.error}")
            continue
        lo, hi = row.ci_per_list or (math.nan, math.nan)
        clo, chi = row.ci_ctr or (math.nan, math.nan)
        lines.append(
            f"{row.estimator:<22} {row.clicks_per_list:>11.4f} [{lo:>8.4f}, {hi:>8.4f}] "
            f"{row.ctr:>8.4f} [{clo:>8.4f}, {chi:>8.4f}] {row.effective_sample_size:>9.0f}  "
            f"{row.interval_method}"
        )
        lines += [f"{'':<22} warning: {note}" for note in row.warnings]
        lines += [f"{'':<22} note: {row.note}"] if row.note else []
    return lines
