"""Generated experiments, exposures and events with a known answer (seeded)."""

from __future__ import annotations

import importlib
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from analytics.services.event_validation import TimeWindow, check_event
from analytics.services.ingestion import insert_event_rows
from assignment.models import Exposure, HoldoutExposure
from experiments.models import Experiment, ExperimentPhase, Holdout, MetricDefinition, Variant

START = datetime(2025, 3, 1, tzinfo=UTC)
WIDE_WINDOW = TimeWindow(now=START, past_seconds=10 * 365 * 86400, future_seconds=365 * 86400)


@dataclass
class Generated:
    experiment: Experiment
    control: Variant
    treatment: Variant
    exposures: dict[str, tuple[str, datetime]] = field(default_factory=dict)  # user -> (v, t)
    events: list[dict] = field(default_factory=list)


def seeded_metrics() -> dict[str, MetricDefinition]:
    """The six standard metric definitions (re-seeded if a transactional test flushed them)."""
    if MetricDefinition.objects.count() < 6:
        from django.apps import apps as django_apps

        seed_module = importlib.import_module("experiments.migrations.0002_seed_metric_definitions")
        seed_module.seed(django_apps, None)
    return {m.key: m for m in MetricDefinition.objects.all()}


def make_experiment(
    key: str = "exp", *, start: datetime = START, days: int = 3, min_runtime_days: int = 7
) -> tuple[Experiment, Variant, Variant]:
    metrics = seeded_metrics()
    experiment = Experiment.objects.create(
        key=key,
        name=f"Experiment {key}",
        status=Experiment.Status.RUNNING,
        started_at=start,
        min_runtime_days=min_runtime_days,
        planned_sample_size=1000,
        primary_metric=metrics["ctr"],
    )
    experiment.guardrail_metrics.set(
        [metrics["session_abandonment"], metrics["time_to_first_interaction"]]
    )
    experiment.secondary_metrics.set(
        [metrics["click_through_users"], metrics["watch_time"], metrics["conversion_rate"]]
    )
    ExperimentPhase.objects.create(
        experiment=experiment,
        number=1,
        seed=key,
        coverage=1.0,
        weights={"control": 1, "treatment": 1},
        started_at=start,
    )
    control = Variant.objects.create(
        experiment=experiment, key="control", name="Control", weight=1, is_control=True
    )
    treatment = Variant.objects.create(
        experiment=experiment, key="treatment", name="Treatment", weight=1, position=1
    )
    return experiment, control, treatment


def event(event_id: str, kind: str, user: str, ts: datetime, **fields) -> dict:
    return {"event_id": event_id, "type": kind, "user_id": user, "timestamp": ts.isoformat()} | (
        fields
    )


def user_events(rng: random.Random, user: str, exposed_at: datetime, lift: float) -> list[dict]:
    """A user's sessions around their exposure: some before it (pre-period), most after."""
    out: list[dict] = []
    for s in range(rng.randint(1, 4)):
        t = exposed_at + timedelta(hours=rng.uniform(-30, 60))
        sid = f"{user}-s{s}"
        out.append(event(f"{sid}-start", "session_start", user, t, session_id=sid))
        interacted = False
        for r in range(rng.randint(0, 3)):
            rid = f"{sid}-r{r}"
            n_items = rng.randint(2, 8)
            t_imp = t + timedelta(seconds=5 + r * 30)
            items = [{"item_id": f"i{rng.randint(1, 50)}", "position": p} for p in range(n_items)]
            out.append(event(f"{rid}-imp", "impression", user, t_imp, request_id=rid, items=items))
            for p in range(n_items):
                if rng.random() < 0.08 * lift:
                    out.append(
                        event(
                            f"{rid}-clk{p}",
                            "click",
                            user,
                            t_imp + timedelta(seconds=3),
                            request_id=rid,
                            item_id=items[p]["item_id"],
                            position=p,
                            session_id=sid,
                        )
                    )
                    interacted = True
        if rng.random() < 0.5:
            out.append(
                event(
                    f"{sid}-fi",
                    "first_interaction",
                    user,
                    t + timedelta(seconds=4),
                    seconds=round(rng.uniform(1, 20) / lift, 3),
                    session_id=sid,
                )
            )
            interacted = True
        if rng.random() < 0.3:
            out.append(
                event(
                    f"{sid}-w",
                    "watch",
                    user,
                    t + timedelta(seconds=50),
                    item_id="i1",
                    seconds=round(rng.expovariate(1 / 300) * lift, 2),
                    session_id=sid,
                )
            )
            interacted = True
        if rng.random() < 0.1 * lift:
            out.append(
                event(
                    f"{sid}-cv",
                    "conversion",
                    user,
                    t + timedelta(seconds=90),
                    value=9.5,
                    session_id=sid,
                )
            )
            interacted = True
        out.append(
            event(f"{sid}-end", "session_end", user, t + timedelta(minutes=5), session_id=sid)
        )
        del interacted
    return out


def generate(
    *, users: int = 60, seed: int = 7, key: str = "exp", days: int = 3, lift: float = 1.3
) -> Generated:
    """An experiment with ``users`` exposed over ``days`` and their events, stored."""
    rng = random.Random(seed)
    experiment, control, treatment = make_experiment(key, days=days)
    data = Generated(experiment, control, treatment)
    exposures = []
    for i in range(users):
        user = f"{key}-u{i}"
        variant = control if i % 2 == 0 else treatment
        exposed_at = START + timedelta(seconds=rng.uniform(0, days * 86400 - 1))
        data.exposures[user] = (variant.key, exposed_at)
        exposures.append(
            Exposure(
                experiment=experiment,
                phase=1,
                variant=variant,
                user_id=user,
                first_exposed_at=exposed_at,
            )
        )
        data.events.extend(
            user_events(rng, user, exposed_at, lift if variant is treatment else 1.0)
        )
    Exposure.objects.bulk_create(exposures)
    store_events(data.events)
    return data


def store_events(events: list[dict], received_at: datetime | None = None) -> int:
    rows = [check_event(e, WIDE_WINDOW) for e in events]
    return insert_event_rows(rows, received_at or datetime.now(UTC))


def holdout_world(users: int = 60, seed: int = 1) -> Holdout:
    """An active holdout with one user in five held out, their events stored (not rolled up);
    everyone else's behaviour is lifted 1.4 times."""
    seeded_metrics()
    holdout = Holdout.objects.create(name="global", share=0.05, seed="h")
    rng = random.Random(seed)
    rows, events = [], []
    for i in range(users):
        user = f"h-{i}"
        seen = START + timedelta(hours=rng.uniform(0, 48))
        rows.append(
            HoldoutExposure(
                holdout=holdout, user_id=user, in_holdout=i % 5 == 0, first_seen_at=seen
            )
        )
        events.extend(user_events(rng, user, seen, 1.0 if i % 5 == 0 else 1.4))
    HoldoutExposure.objects.bulk_create(rows)
    store_events(events)
    return holdout
