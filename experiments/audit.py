"""The audit log as sentences a person reads.

"admin changed coverage from 50% to 100%, starting phase 3" instead of a Python dict: the
actions and change records are those written by :func:`experiments.services.record_audit`.
"""

from __future__ import annotations

from typing import Any

from experiments.models import AuditLogEntry

_LIFECYCLE = {
    "create": "created the experiment",
    "start": "started the experiment, opening phase 1",
    "pause": "paused the experiment: nobody is assigned until it resumes",
    "resume": "resumed the experiment in the same phase",
    "stop": "stopped the experiment and closed its phase",
    "conclude": "concluded the experiment: results are final",
}
_SHARES = {"coverage", "layer_start", "layer_end", "share"}
_HIDDEN = {"seed", "hash_seed"}  # seeds are noise to a reader; the new phase says it all


def _value(field: str, value: Any) -> str:
    if value is None or value == "" or value == {} or value == []:
        return "none"
    if field in _SHARES and isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:.0%}" if round(value * 100, 6).is_integer() else f"{value:.1%}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_value(field, v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_value(field, v) for v in value)
    return str(value)


def _field_changes(changes: dict[str, Any]) -> list[str]:
    parts = []
    for field, change in sorted(changes.items()):
        if field in _HIDDEN:
            continue
        name = field.replace("_", " ")
        if isinstance(change, list | tuple) and len(change) == 2:
            before, after = change
            if before == "(new)":
                parts.append(f"added {name} ({_value(field, after)})")
            elif before == "deleted":
                parts.append(f"removed {name}")
            else:
                parts.append(
                    f"changed {name} from {_value(field, before)} to {_value(field, after)}"
                )
        else:
            parts.append(f"set {name} to {_value(field, change)}")
    return parts


def _allocation_diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    return {k: [before.get(k), after.get(k)] for k in after if before.get(k) != after.get(k)}


def describe_changes(changes: dict[str, Any]) -> str:
    """``{field: [before, after]}`` as a clause: "changed coverage from 50% to 100%; ..."."""
    return "; ".join(_field_changes(changes))


def describe(entry: AuditLogEntry) -> str:
    """One sentence for one audit entry: who did what, and what it did to phases."""
    who = entry.who_name or "someone"
    changes = dict(entry.changes or {})
    if entry.action in _LIFECYCLE:
        sentence = f"{who} {_LIFECYCLE[entry.action]}"
        if changes.get("override_reason"):
            sentence += f" before its minimum runtime (override: {changes['override_reason']})"
        return sentence
    if entry.action == "new_phase":
        phase = changes.get("phase") or [None, None]
        diff = _allocation_diff(changes.get("before") or {}, changes.get("after") or {})
        parts = _field_changes(diff)
        what = "; ".join(parts) if parts else "changed the allocation"
        reason = f" ({changes['reason']})" if changes.get("reason") else ""
        return f"{who} {what}, starting phase {phase[-1]}{reason}"
    parts = _field_changes(changes)
    if not parts:
        return f"{who} saved {entry.object_repr or 'the experiment'} without changes"
    if entry.action not in ("change", "create"):
        return f"{who} {entry.action.replace('_', ' ')}: {'; '.join(parts)}"
    return f"{who} {'; '.join(parts)}"
