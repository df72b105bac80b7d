"""Saving an experiment edited as a whole (the admin's change form): its hash seed, one audit
entry, and a new phase when a running experiment's allocation changed."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from experiments.models import Experiment
from experiments.services.base import Status, draw_seed, record_audit
from experiments.services.lifecycle import allocation_of, do_start_new_phase


@dataclass(frozen=True)
class ExperimentEdit:
    """What :func:`do_save_experiment` did: the phase it opened (None: none) and whether that
    phase drew a new seed."""

    experiment: Experiment
    new_phase: int | None = None
    reseeded: bool = False


@transaction.atomic
def do_save_experiment(
    experiment: Experiment,
    actor: Any,
    *,
    changes: Mapping[str, Any],
    write: Callable[[Experiment], Mapping[str, Any]],
) -> ExperimentEdit:
    """Save ``experiment`` as edited; a new one when it has no primary key yet.

    Draws the hash seed when there is none, calls ``write(experiment)`` to store the row and
    its related rows (variants, metrics), which returns the changes among the related rows,
    and records one audit entry (``create`` or ``change``) with ``changes`` and those. When a
    running or paused experiment's allocation (seed, version, coverage, layer range, weights)
    differs from the stored one, opens the next phase (:func:`do_start_new_phase`, which locks
    the experiment row); users are re-randomised unless the edit set the seed itself.
    """
    created = experiment.pk is None
    before = None
    if not created:
        before = allocation_of(Experiment.objects.select_related("layer").get(pk=experiment.pk))
    if not experiment.hash_seed:
        experiment.hash_seed = draw_seed(experiment.key)
    related = write(experiment)
    record_audit(
        actor,
        "create" if created else "change",
        experiment=experiment,
        changes={**changes, **related},
    )
    if before is None or experiment.status not in (Status.RUNNING, Status.PAUSED):
        return ExperimentEdit(experiment)
    experiment.refresh_from_db()
    after = allocation_of(experiment)
    if after == before:
        return ExperimentEdit(experiment)
    reseed = after["seed"] == before["seed"]
    updated = do_start_new_phase(
        experiment,
        actor,
        reason="allocation changed in the admin",
        previous_allocation=before,
        reseed=reseed,
    )
    return ExperimentEdit(updated, new_phase=updated.current_phase, reseeded=reseed)
