"""Writes on experiments: creation, validation, lifecycle, phases, the holdout, the audit log.

Naming follows the project's contract: ``check_*`` validates and raises
:class:`ExperimentError` (a ``ValidationError`` whose messages name the field), ``do_*``
writes inside ``transaction.atomic`` and states its locking in its docstring. Every ``do_*``
records an :class:`~experiments.models.AuditLogEntry` and bumps the
:class:`~experiments.models.ConfigVersion` that assignment caches watch.
"""

from experiments.services.base import (
    ACTIVE_STATUSES,
    ExperimentError,
    bump_config_version,
    draw_seed,
    record_audit,
)
from experiments.services.checks import (
    check_allocation,
    check_hash_version,
    check_holdout_share,
    check_interleaving,
    check_interleaving_ready,
    check_layer_range,
    check_variants,
)
from experiments.services.editing import (
    ExperimentEdit,
    allocation_changes,
    do_edit_experiment,
    do_save_experiment,
)
from experiments.services.holdout import do_create_holdout, do_create_layer, do_end_holdout
from experiments.services.lifecycle import (
    allocation_of,
    do_conclude_experiment,
    do_create_experiment,
    do_pause_experiment,
    do_resume_experiment,
    do_start_experiment,
    do_start_new_phase,
    do_stop_experiment,
)

__all__ = [
    "ACTIVE_STATUSES",
    "ExperimentEdit",
    "ExperimentError",
    "allocation_changes",
    "allocation_of",
    "bump_config_version",
    "check_allocation",
    "check_hash_version",
    "check_holdout_share",
    "check_interleaving",
    "check_interleaving_ready",
    "check_layer_range",
    "check_variants",
    "do_conclude_experiment",
    "do_create_experiment",
    "do_create_holdout",
    "do_create_layer",
    "do_edit_experiment",
    "do_end_holdout",
    "do_pause_experiment",
    "do_resume_experiment",
    "do_save_experiment",
    "do_start_experiment",
    "do_start_new_phase",
    "do_stop_experiment",
    "draw_seed",
    "record_audit",
]
