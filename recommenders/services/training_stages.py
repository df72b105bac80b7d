"""The stages of the offline pipeline, one function per Celery task, each idempotent.

Every stage loads its :class:`ModelVersion` by id, does its work in the version's staging
folder (``<artifact root>/<config>/.staging-v<id>-<created>``), records its stage and percent, and
leaves the version ready for the next stage. Re-running a stage that already finished is a
no-op, so a task redelivered after a worker crash (``acks_late``) is harmless.

Artifacts become visible only in the build stage's last step, an ``os.rename`` of the
complete staging folder to ``<config>/v<id>-<created>``: a version never points at a half-written
folder. torch (two-tower, pipeline) is imported by the core models on first use, inside the
worker child; nothing here imports it at module import.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from recommenders.core.item_catalogue import ItemCatalogue, rules_by_index
from recommenders.core.rules import Rules, apply_rules
from recommenders.models import Item, ModelVersion, PrecomputedList
from recommenders.models.versions import POPULAR_LIST_USER

logger = logging.getLogger(__name__)

Status = ModelVersion.Status
Stage = ModelVersion.Stage

# Stage order and the percent reached when each stage finishes.
STAGE_ORDER: tuple[str, ...] = (
    Stage.QUEUED,
    Stage.SNAPSHOT,
    Stage.TRAIN,
    Stage.EVALUATE,
    Stage.BUILD,
    Stage.REGISTER,
    Stage.PROMOTE,
    Stage.DONE,
)
STAGE_DONE_PERCENT = {
    Stage.SNAPSHOT: 10,
    Stage.TRAIN: 40,
    Stage.EVALUATE: 55,
    Stage.BUILD: 90,
    Stage.REGISTER: 95,
    Stage.PROMOTE: 100,
}
PRECOMPUTED_BATCH_ROWS = 2_000
FALLBACK_RULES_MARGIN = 10  # extra items per precomputed list, for the rules to drop
SNAPSHOT_FILE = "snapshot.pickle"
SPLIT_FILE = "split.pickle"
MANIFEST_FILE = "manifest.json"

ProgressCallback = Callable[[ModelVersion], None]


class StageSkipped(Exception):
    """The version is not in a state this stage applies to (already done, failed, retired)."""


# --- folders -------------------------------------------------------------------------------
def config_folder(config_name: str) -> Path:
    return Path(settings.SPLITLAB_ARTIFACT_ROOT) / config_name


def staging_folder(version: ModelVersion) -> Path:
    return config_folder(version.config.name) / f".staging-{_version_folder_name(version)}"


def final_folder(version: ModelVersion) -> Path:
    """``v<id>-<created unix seconds>``: unique even when a reset database reuses ids."""
    return config_folder(version.config.name) / _version_folder_name(version)


def _version_folder_name(version: ModelVersion) -> str:
    return f"v{version.pk}-{int(version.created_at.timestamp())}"


# --- bookkeeping ---------------------------------------------------------------------------
def stage_reached(version: ModelVersion, stage: str) -> bool:
    """True when ``version`` has already finished ``stage``."""
    return STAGE_ORDER.index(version.stage) >= STAGE_ORDER.index(stage)


def version_key(version: ModelVersion) -> str:
    """``v<id>-<created unix seconds>``: names the version's folders, and lets a task tell
    its version from another database's row with the same id (a restored database, or two
    deployments sharing a broker by mistake)."""
    return _version_folder_name(version)


def check_version_key(version_id: int, key: str) -> None:
    """StageSkipped unless version ``version_id`` exists here and, when ``key`` is given,
    is the version the message was sent for."""
    version = ModelVersion.objects.filter(pk=version_id).first()
    if version is None:
        raise StageSkipped(f"no version {version_id} in this database")
    if key and version_key(version) != key:
        raise StageSkipped(f"version {version_id} is not {key} (a message for another database)")


def _load_for_stage(version_id: int, stage: str) -> ModelVersion:
    version = ModelVersion.objects.select_related("config").get(pk=version_id)
    if version.status in (Status.FAILED, Status.RETIRED):
        raise StageSkipped(f"version {version_id} is {version.status}")
    if stage_reached(version, stage):
        raise StageSkipped(f"version {version_id} already finished {stage}")
    return version


def _set_progress(
    version: ModelVersion, *, status: str | None = None, percent: int | None = None, **fields
) -> None:
    if status is not None:
        version.status = status
    if percent is not None:
        version.progress_percent = percent
    for name, value in fields.items():
        setattr(version, name, value)
    names = ["status", "progress_percent", *fields]
    version.save(update_fields=names)


def _finish_stage(version: ModelVersion, stage: str, **fields: Any) -> None:
    _set_progress(version, percent=STAGE_DONE_PERCENT.get(stage, 0), stage=stage, **fields)


def _write_pickle(path: Path, payload: Any) -> None:
    """Write via a temporary name and rename, so a reader never sees half a file."""
    partial = path.with_suffix(path.suffix + ".partial")
    with partial.open("wb") as handle:
        pickle.dump(payload, handle, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(partial, path)


def _read_pickle(path: Path) -> Any:
    # Files of our own staging folder, written by _write_pickle; never user input.
    with path.open("rb") as handle:
        return pickle.load(handle)  # noqa: S301


# --- stage 1: snapshot ---------------------------------------------------------------------
def run_snapshot_stage(version_id: int) -> None:
    """Freeze the interactions of the config's data window into the staging folder."""
    from recommenders.selectors.catalog import interaction_data_snapshot

    version = _load_for_stage(version_id, Stage.SNAPSHOT)
    _set_progress(
        version, status=Status.TRAINING, percent=2, stage=Stage.QUEUED, started_at=timezone.now()
    )
    config = version.config
    window_end = _latest_interaction_time()
    window_start = (
        window_end - timedelta(days=config.data_window_days)
        if window_end is not None and config.data_window_days
        else None
    )
    # No upper bound: ``until`` is exclusive and window_end is the latest interaction itself.
    data = interaction_data_snapshot(since=window_start)
    if data.n_users == 0 or data.n_items == 0 or data.matrix.nnz == 0:
        raise ValueError("no interactions in the data window: load data before training")
    folder = staging_folder(version)
    folder.mkdir(parents=True, exist_ok=True)
    _write_pickle(folder / SNAPSHOT_FILE, data)
    _finish_stage(
        version,
        Stage.SNAPSHOT,
        data_window_start=window_start or _earliest_interaction_time(),
        data_window_end=window_end,
        n_users=data.n_users,
        n_items=data.n_items,
        n_interactions=int(data.matrix.nnz),
    )


def _latest_interaction_time() -> datetime | None:
    from recommenders.models import Interaction

    latest = Interaction.objects.order_by("-timestamp").values_list("timestamp", flat=True)
    return latest.first()


def _earliest_interaction_time() -> datetime | None:
    from recommenders.models import Interaction

    return Interaction.objects.order_by("timestamp").values_list("timestamp", flat=True).first()


# --- stage 2: train (on the training side of the held-out split) ---------------------------
def run_train_stage(version_id: int) -> None:
    """Split off the held-out window and fit the evaluation model on the rest."""
    from recommenders.core.registry import create_model

    version = _load_for_stage(version_id, Stage.TRAIN)
    folder = staging_folder(version)
    data = _read_pickle(folder / SNAPSHOT_FILE)
    split = held_out_split(data, version.config.holdout_days)
    _write_pickle(folder / SPLIT_FILE, split)
    model = create_model(version.algorithm, **version.params)
    model.fit(split.train)
    model.save(folder / "evaluation_model")
    _finish_stage(version, Stage.TRAIN)


def held_out_split(data: Any, holdout_days: int | None) -> Any:
    """Leave-last-out per user, or a global temporal split of the last ``holdout_days``."""
    from recommenders.core import evaluation

    if holdout_days:
        if data.timestamps is None or data.timestamps.nnz == 0:
            raise ValueError("a held-out window in days needs interaction timestamps")
        cutoff = float(data.timestamps.data.max()) - holdout_days * 86_400.0
        return evaluation.temporal_split(data, cutoff_time=cutoff)
    return evaluation.leave_last_out(data)


# --- stage 3: evaluate ---------------------------------------------------------------------
def run_evaluate_stage(version_id: int) -> None:
    """Score the evaluation model on the held-out window with the core's metrics."""
    from recommenders.core import evaluation
    from recommenders.core.registry import load_model

    version = _load_for_stage(version_id, Stage.EVALUATE)
    _set_progress(version, status=Status.EVALUATING, percent=42)
    folder = staging_folder(version)
    split = _read_pickle(folder / SPLIT_FILE)
    model = load_model(folder / "evaluation_model")
    report = evaluation.evaluate(model, split, k=version.config.evaluation_k, fit=False)
    metrics = {name: _json_number(value) for name, value in report.as_dict().items()}
    metrics["k"] = version.config.evaluation_k
    _finish_stage(version, Stage.EVALUATE, metrics=metrics)


def _json_number(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


# --- stage 4: build artifacts --------------------------------------------------------------
def run_build_stage(version_id: int, progress: ProgressCallback | None = None) -> None:
    """Fit on the whole window, save model, ids, item metadata and fallback lists, then
    rename the staging folder to the version's folder (the atomic switch)."""
    from recommenders.core.registry import create_model

    version = _load_for_stage(version_id, Stage.BUILD)
    _set_progress(version, status=Status.TRAINING, percent=60)
    staging, final = staging_folder(version), final_folder(version)
    if not final.exists():
        data = _read_pickle(staging / SNAPSHOT_FILE)
        model = create_model(version.algorithm, **version.params)
        model.fit(data)
        _set_progress(version, percent=75, fit_seconds=model.fit_seconds)
        if progress:
            progress(version)
        build = staging / "build"
        if build.exists():
            shutil.rmtree(build)  # an earlier attempt died half way
        model.save(build / "model")
        rules, catalogue = _save_catalogue_arrays(build, data, model, version.config.rules)
        top_n = version.config.fallback_top_n
        _save_fallback_lists(build, model, data, top_n, rules, catalogue)
        (build / MANIFEST_FILE).write_text(json.dumps(_manifest(version, model), indent=2))
        os.rename(build, final)
    shutil.rmtree(staging, ignore_errors=True)
    _finish_stage(version, Stage.BUILD, artifact_path=str(final))


def _manifest(version: ModelVersion, model: Any) -> dict[str, Any]:
    return {
        "version_id": version.pk,
        "config": version.config.name,
        "algorithm": version.algorithm,
        "params": model.params,
        "fit_seconds": model.fit_seconds,
        "built_at": datetime.now(UTC).isoformat(),
    }


def _save_catalogue_arrays(
    folder: Path, data: Any, model: Any, config_rules: dict[str, Any]
) -> tuple[Rules, ItemCatalogue]:
    """External ids of the matrix axes, each item's categories and the blocked items (for
    rules and cold start); returns the content policy and category cap of the config's
    rules in item-index terms, and the catalogue they read."""
    item_ids = np.asarray(data.item_ids).astype(str)
    user_ids = np.asarray(data.user_ids).astype(str)
    categories = _item_categories(item_ids)
    blocked = sorted(
        Item.objects.filter(is_blocked=True).values_list("external_id", flat=True).iterator()
    )
    np.save(folder / "item_ids.npy", item_ids)
    np.save(folder / "user_ids.npy", user_ids)
    (folder / "item_categories.json").write_text(json.dumps(categories))
    (folder / "blocked_items.json").write_text(json.dumps(blocked))
    catalogue = ItemCatalogue.from_category_lists(categories, model.item_popularity)
    index = {item_id: i for i, item_id in enumerate(item_ids.tolist())}
    by_index = rules_by_index(config_rules, index, catalogue, blocked)
    # The lists are the model's own ranking: only the policy and the cap apply to them.
    policy = {
        key: by_index[key] for key in ("blocked_items", "max_per_category") if key in by_index
    }
    return Rules.from_dict(policy, catalogue.category_names), catalogue


def _item_categories(item_ids: np.ndarray) -> list[list[str]]:
    by_id: dict[str, list[str]] = {}
    ids = item_ids.tolist()
    for lo in range(0, len(ids), 900):
        chunk = ids[lo : lo + 900]
        by_id.update(
            Item.objects.filter(external_id__in=chunk).values_list("external_id", "categories")
        )
    return [list(by_id.get(item_id) or []) for item_id in ids]


def _save_fallback_lists(
    folder: Path, model: Any, data: Any, top_n: int, rules: Rules, catalogue: ItemCatalogue
) -> None:
    """Top-N per recently active user, and the popular list, as ``fallback.npz``; both
    pass the config's business rules, like online answers.

    Users are ranked by their latest interaction; the most recent
    ``SPLITLAB_FALLBACK_MAX_USERS`` get a list of their own.
    """
    max_users = settings.SPLITLAB_FALLBACK_MAX_USERS
    users = np.arange(data.n_users, dtype=np.int64)
    if data.timestamps is not None and data.n_users > max_users:
        latest = np.asarray(data.timestamps.max(axis=1).todense()).ravel()
        users = np.sort(np.argsort(-latest, kind="stable")[:max_users])
    elif data.n_users > max_users:
        users = users[:max_users]
    recs = model.recommend(users, top_n + FALLBACK_RULES_MARGIN, exclude_seen=True)
    items = np.full((len(users), top_n), -1, np.int64)
    scores = np.full((len(users), top_n), -np.inf, np.float32)
    for row in range(len(users)):
        found = recs.item_indices[row] >= 0
        ranked, ranked_scores = recs.item_indices[row][found], recs.scores[row][found]
        kept = apply_rules(ranked, top_n, rules, catalogue.categories)
        items[row, : len(kept)] = ranked[kept]
        scores[row, : len(kept)] = ranked_scores[kept]
    popularity = np.asarray(model.item_popularity, dtype=np.float32)
    order = np.argsort(-popularity, kind="stable")
    popular = order[apply_rules(order, top_n, rules, catalogue.categories)].tolist()
    np.savez(
        folder / "fallback.npz",
        users=users,
        items=items,
        scores=scores,
        popular_items=np.asarray(popular, np.int64),
        popular_scores=popularity[popular],
    )


# --- stage 5: register ---------------------------------------------------------------------
def run_register_stage(version_id: int) -> None:
    """Store the fallback lists in the database and mark the version ready."""
    version = _load_for_stage(version_id, Stage.REGISTER)
    folder = Path(version.artifact_path)
    with np.load(folder / "fallback.npz") as stored:  # read each array once
        lists = {name: stored[name] for name in stored.files}
    item_ids = np.load(folder / "item_ids.npy")
    user_ids = np.load(folder / "user_ids.npy")
    rows = [
        _precomputed_row(
            version, POPULAR_LIST_USER, lists["popular_items"], lists["popular_scores"], item_ids
        )
    ]
    for position, user_index in enumerate(lists["users"].tolist()):
        rows.append(
            _precomputed_row(
                version,
                str(user_ids[user_index]),
                lists["items"][position],
                lists["scores"][position],
                item_ids,
            )
        )
    with transaction.atomic():
        PrecomputedList.objects.filter(model_version=version).delete()
        PrecomputedList.objects.bulk_create(rows, batch_size=PRECOMPUTED_BATCH_ROWS)
        _finish_stage(version, Stage.REGISTER, status=Status.READY, finished_at=timezone.now())


def _precomputed_row(
    version: ModelVersion, user_id: str, items: np.ndarray, scores: np.ndarray, item_ids: np.ndarray
) -> PrecomputedList:
    keep = items >= 0
    return PrecomputedList(
        model_version=version,
        user_external_id=user_id,
        item_ids=item_ids[items[keep]].tolist(),
        scores=[round(float(s), 6) for s in scores[keep]],
    )
