"""What a report's section lacks, and how to get it: the words shown instead of an empty chart.

A report reads the rollup's sums, so a section is empty for one of three reasons, each with
its own remedy: the experiment exposes nobody yet (start it, send traffic), nothing has been
rolled up yet (the rollup runs on a timer, or by hand), or users are exposed but the events a
metric is made of have not arrived (clients send them).
"""

from __future__ import annotations

from datetime import datetime

from experiments.models import Experiment

Status = Experiment.Status

TRAFFIC = "clients ask POST /api/v1/assignments or GET /api/v1/recommendations for its users"
ROLLUP = (
    "the rollup counts them every few minutes (every minute under make run; make manage "
    'ARGS="rollup" runs it now)'
)
EVENTS = (
    "clients send the events it is made of (impressions, clicks, sessions: POST /api/v1/events) "
    "for exposed users"
)


def exposures_missing(
    experiment: Experiment, *, phase: int, exposed: int, rolled_up_at: datetime | None
) -> str:
    """Why phase ``phase`` shows no exposures and what to do ("" when it has some)."""
    if exposed:
        return ""
    if experiment.status == Status.DRAFT:
        return f"No exposures: the experiment has not started. Start it; then {TRAFFIC}."
    if rolled_up_at is None:
        return f"No exposures counted: no rollup has run yet; {ROLLUP}."
    if experiment.status == Status.PAUSED:
        return (
            f"No exposures in phase {phase}: the experiment is paused. Resume it; then {TRAFFIC}."
        )
    if experiment.status in (Status.STOPPED, Status.CONCLUDED):
        return f"No exposures were recorded in phase {phase} before the experiment stopped."
    return f"No exposures in phase {phase} yet: users are exposed when {TRAFFIC}, and {ROLLUP}."


def metric_missing(metric: str, *, exposed: int, problem: str) -> str:
    """Why a metric has no effect to draw although ``exposed`` users were exposed."""
    why = f" ({problem})" if problem else ""
    return (
        f"{exposed:,} users exposed, but no {metric} to compare yet{why}: {EVENTS}; events "
        f"are stored as they arrive and {ROLLUP}."
    )


def holdout_missing(users: int, metric: str = "", problem: str = "") -> str:
    """Why the holdout report (or one metric of it) has nothing to draw."""
    if not users:
        return (
            "No users counted yet: held-out users and everyone else are counted once "
            f"{TRAFFIC.replace('its users', 'users')}, and {ROLLUP}."
        )
    return metric_missing(metric, exposed=users, problem=problem)


NO_MEANINGFUL_RELATIVE = (
    "Nothing to draw: the relative effect is not meaningful on any day (the holdout's mean is "
    "not distinguishable from 0, or the effect lies beyond ±1,000%); the absolute effect and "
    "its interval are in the table above."
)

INTERLEAVING_MISSING = (
    "No analysed pages yet: the interleaving report reads the served lists and clicks directly "
    "(no rollup). Start the experiment; then clients ask GET /api/v1/recommendations for its "
    "users and send click events (POST /api/v1/events) with the request_id of the list."
)
