"""The audit log in words (experiments.audit.describe)."""

from __future__ import annotations

from experiments.audit import describe
from experiments.models import AuditLogEntry


def entry(action: str, changes: dict, who: str = "admin") -> AuditLogEntry:
    return AuditLogEntry(who_name=who, action=action, changes=changes, object_repr="exp")


def test_new_phase_names_the_change_and_the_phase():
    text = describe(
        entry(
            "new_phase",
            {
                "phase": [2, 3],
                "reason": "allocation changed in the admin",
                "before": {"coverage": 0.5, "seed": "a", "weights": {"c": 1, "t": 1}},
                "after": {"coverage": 1.0, "seed": "b", "weights": {"c": 1, "t": 1}},
            },
        )
    )
    assert text == (
        "admin changed coverage from 50% to 100%, starting phase 3 "
        "(allocation changed in the admin)"
    )


def test_field_changes_and_lifecycle():
    renamed = describe(entry("change", {"name": ["Old", "New"]}))
    assert renamed == "admin changed name from Old to New"
    assert describe(entry("pause", {"status": ["running", "paused"]})).startswith(
        "admin paused the experiment"
    )
    changes = {"status": ["stopped", "concluded"], "override_reason": "x"}
    early = describe(entry("conclude", changes))
    assert early.endswith("before its minimum runtime (override: x)")
    assert describe(entry("change", {"variant t": ["(new)", {"weight": 2}]})) == (
        "admin added variant t (weight 2)"
    )
    assert describe(entry("change", {}, who="")) == "someone saved exp without changes"
