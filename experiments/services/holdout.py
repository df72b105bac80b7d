"""Layers and the permanent holdout."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from experiments.models import Holdout, Layer
from experiments.services.base import (
    ExperimentError,
    bump_config_version,
    draw_seed,
    record_audit,
)
from experiments.services.checks import check_holdout_share

# --- layers and the holdout ----------------------------------------------------------------


@transaction.atomic
def do_create_layer(name: str, actor: Any = None, *, description: str = "") -> Layer:
    """Create a layer with a freshly drawn seed (positions never depend on its name)."""
    layer = Layer(name=name, description=description, seed=draw_seed(f"layer-{name}"))
    try:
        layer.full_clean()
    except ValidationError as error:
        raise ExperimentError(error.message_dict) from None
    layer.save()
    record_audit(actor, "create_layer", object_repr=f"layer {name}", changes={"seed": layer.seed})
    bump_config_version()
    return layer


@transaction.atomic
def do_create_holdout(name: str, share: float, actor: Any = None) -> Holdout:
    """Create the global holdout (refused while another is active); its seed is drawn here
    and, like its share, never changes, so membership never moves."""
    check_holdout_share(share)
    if Holdout.objects.select_for_update().filter(is_active=True).exists():
        raise ExperimentError(
            {"is_active": "a holdout is already active; end it before creating another"}
        )
    holdout = Holdout.objects.create(name=name, share=share, seed=draw_seed("holdout"))
    record_audit(
        actor,
        "create_holdout",
        object_repr=f"holdout {name}",
        changes={"share": share, "seed": holdout.seed},
    )
    bump_config_version()
    return holdout


@transaction.atomic
def do_end_holdout(holdout: Holdout, actor: Any = None) -> Holdout:
    """Deactivate the holdout: its users re-enter experiments from now on."""
    Holdout.objects.filter(pk=holdout.pk).update(is_active=False)
    holdout.refresh_from_db()
    record_audit(
        actor,
        "end_holdout",
        object_repr=f"holdout {holdout.name}",
        changes={"is_active": [True, False]},
    )
    bump_config_version()
    return holdout
