"""Rollups: metric values equal those computed from the raw events; re-runs change nothing."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from analytics.models import ArmDailyStats, UserDailyRollup
from analytics.reports.metrics import sufficient_stats
from analytics.selectors import experiment_series
from analytics.services.rollups import do_run_rollups
from tests.analytics.factories import event, generate, store_events

INTERACTIONS = {"click", "watch", "conversion", "first_interaction"}


def direct_metrics(data, variant_key: str) -> dict[str, float]:
    """Each metric computed straight from the generated events (no SQL, no rollup)."""
    users = {u for u, (v, _) in data.exposures.items() if v == variant_key}
    per_user = defaultdict(lambda: defaultdict(float))
    interacted_sessions = {e.get("session_id") for e in data.events if e["type"] in INTERACTIONS}
    for e in data.events:
        user = e["user_id"]
        if user not in users:
            continue
        if datetime.fromisoformat(e["timestamp"]) < data.exposures[user][1]:
            continue
        u = per_user[user]
        kind = e["type"]
        if kind == "impression":
            u["imp"] += len(e["items"])
        elif kind == "click":
            u["clk"] += 1
        elif kind == "session_start":
            u["ses"] += 1
        elif kind == "session_end" and e["session_id"] not in interacted_sessions:
            u["ab"] += 1
        elif kind == "watch":
            u["w"] += e["seconds"]
        elif kind == "conversion":
            u["cv"] += 1
        elif kind == "first_interaction":
            u["fi"] += 1
            u["fis"] += e["seconds"]
    totals = {k: sum(per_user[u][k] for u in users) for k in ("imp", "clk", "ses", "ab", "w")}
    tfi_means = [per_user[u]["fis"] / per_user[u]["fi"] for u in users if per_user[u]["fi"]]
    return {
        "n": len(users),
        "ctr": totals["clk"] / totals["imp"],
        "abandonment": totals["ab"] / totals["ses"],
        "tfi": sum(tfi_means) / len(tfi_means),
        "tfi_n": len(tfi_means),
        "watch": totals["w"] / len(users),
        "clicked": sum(1 for u in users if per_user[u]["clk"] > 0),
        "converted": sum(1 for u in users if per_user[u]["cv"] > 0),
        "clk2": sum(per_user[u]["clk"] ** 2 for u in users),
        "clk_imp": sum(per_user[u]["clk"] * per_user[u]["imp"] for u in users),
    }


def rolled_metrics(data, variant) -> dict[str, float]:
    latest = experiment_series(data.experiment.id, 1)[variant.id].latest
    ctr = sufficient_stats(latest, "ctr")
    ab = sufficient_stats(latest, "session_abandonment")
    tfi = sufficient_stats(latest, "time_to_first_interaction")
    return {
        "n": ctr.n,
        "ctr": ctr.sum_x / ctr.sum_y,
        "abandonment": ab.sum_x / ab.sum_y,
        "tfi": tfi.sum_x / tfi.n,
        "tfi_n": tfi.n,
        "watch": sufficient_stats(latest, "watch_time").sum_x / ctr.n,
        "clicked": sufficient_stats(latest, "click_through_users").sum_x,
        "converted": sufficient_stats(latest, "conversion_rate").sum_x,
        "clk2": ctr.sum_x2,
        "clk_imp": ctr.sum_xy,
    }


@pytest.mark.django_db
def test_rolled_up_metrics_equal_direct_computation_from_raw_events():
    data = generate(users=80, seed=11)
    do_run_rollups()
    for variant in (data.control, data.treatment):
        expected = direct_metrics(data, variant.key)
        got = rolled_metrics(data, variant)
        assert got == pytest.approx(expected, rel=1e-9), variant.key


@pytest.mark.django_db
def test_pre_exposure_events_only_feed_covariates():
    data = generate(users=40, seed=3)
    do_run_rollups()
    rows = UserDailyRollup.objects.filter(scope="experiment", scope_id=data.experiment.id)
    assert rows.filter(is_pre=True).exists() and rows.filter(is_pre=False).exists()
    latest = experiment_series(data.experiment.id, 1)[data.treatment.id].latest
    watch = sufficient_stats(latest, "watch_time")
    assert watch.sum_c is not None and watch.sum_c > 0


def arm_tables():
    return sorted(ArmDailyStats.objects.values_list("arm_id", "day", "sums"))


def assert_same_tables(got, expected) -> None:
    """Equal arms, days and sums; float sums to 1e-12 (PostgreSQL may add in another order)."""
    assert [(arm, day, sorted(sums)) for arm, day, sums in got] == [
        (arm, day, sorted(sums)) for arm, day, sums in expected
    ]
    for (_, _, sums), (_, _, wanted) in zip(got, expected, strict=True):
        assert sums == pytest.approx(wanted, rel=1e-12, abs=1e-9)


@pytest.mark.django_db
def test_rerun_and_incremental_runs_give_the_same_tables():
    data = generate(users=50, seed=5)
    do_run_rollups()
    snapshot = arm_tables()
    do_run_rollups()
    assert_same_tables(arm_tables(), snapshot)
    # A late click on an old day for an exposed user: the incremental run picks it up.
    user, (_, exposed_at) = next(iter(data.exposures.items()))
    late = event(
        "late-1", "click", user, exposed_at + timedelta(hours=1), request_id="r", item_id="i1"
    )
    store_events([late])
    do_run_rollups()
    incremental = arm_tables()
    do_run_rollups(full=True)
    assert_same_tables(arm_tables(), incremental)
    assert incremental != snapshot


@pytest.mark.django_db
def test_a_user_exposed_after_their_events_arrived_is_rolled_up_next_run():
    from assignment.models import Exposure

    data = generate(users=10, seed=9)
    do_run_rollups()
    t = datetime(2025, 3, 2, 12, tzinfo=UTC)
    store_events(
        [
            event(
                "new-imp",
                "impression",
                "newcomer",
                t + timedelta(minutes=1),
                request_id="r9",
                items=["a", "b", "c"],
            ),
            event(
                "new-clk",
                "click",
                "newcomer",
                t + timedelta(minutes=2),
                request_id="r9",
                item_id="a",
            ),
        ]
    )
    do_run_rollups()  # not exposed yet: not counted
    before = experiment_series(data.experiment.id, 1)[data.treatment.id].latest
    Exposure.objects.create(
        experiment=data.experiment,
        phase=1,
        variant=data.treatment,
        user_id="newcomer",
        first_exposed_at=t,
    )
    do_run_rollups()
    after = experiment_series(data.experiment.id, 1)[data.treatment.id].latest
    assert after["n"] == before["n"] + 1
    assert after["clk"] == before["clk"] + 1
    assert after["imp"] == before["imp"] + 3
    incremental = sorted(ArmDailyStats.objects.values_list("arm_id", "day", "sums"))
    do_run_rollups(full=True)
    assert sorted(ArmDailyStats.objects.values_list("arm_id", "day", "sums")) == incremental


def sessions_with_known_abandonment(user: str, t: datetime) -> tuple[list[dict], int]:
    """Session ends of ``user`` against the rule (an interaction of the same user and session
    in the day up to the end), and how many of them are abandoned."""
    hour = timedelta(hours=1)
    day = timedelta(days=1)

    def s(name: str) -> str:
        return f"{user}-{name}"

    events = [
        event(s("a-clk"), "click", user, t + hour, session_id=s("a"), request_id="r", item_id="i1"),
        event(s("a-end"), "session_end", user, t + 3 * hour, session_id=s("a")),
        # No interaction at all: abandoned.
        event(s("b-end"), "session_end", user, t + 3 * hour, session_id=s("b")),
        # The interaction is two days before the end: abandoned.
        event(s("c-w"), "watch", user, t, session_id=s("c"), item_id="i1", seconds=5),
        event(s("c-end"), "session_end", user, t + 2 * day, session_id=s("c")),
        # The interaction comes after the end: abandoned.
        event(s("d-end"), "session_end", user, t + 3 * hour, session_id=s("d")),
        event(s("d-cv"), "conversion", user, t + 4 * hour, session_id=s("d"), value=1.0),
        # At the same instant as the end, and exactly one day before it: not abandoned.
        event(s("e-fi"), "first_interaction", user, t + 5 * hour, session_id=s("e"), seconds=2),
        event(s("e-end"), "session_end", user, t + 5 * hour, session_id=s("e")),
        event(s("f-w"), "watch", user, t + 5 * hour, session_id=s("f"), item_id="i1", seconds=5),
        event(s("f-end"), "session_end", user, t + 5 * hour + day, session_id=s("f")),
        # Another user's interaction in a session of the same id: abandoned.
        event(
            s("g-clk"),
            "click",
            "someone",
            t + hour,
            session_id=s("g"),
            request_id="r",
            item_id="i1",
        ),
        event(s("g-end"), "session_end", user, t + 2 * hour, session_id=s("g")),
    ]
    return events, 4


def abandoned_sessions(user: str) -> int:
    rows = UserDailyRollup.objects.filter(user_id=user)
    return sum(rows.values_list("abandoned_sessions", flat=True))


@pytest.mark.django_db
def test_abandonment_is_the_same_in_full_and_incremental_runs():
    """The full rebuild finds abandoned sessions by one anti-join, incremental runs by an
    index probe per session end: both apply the same rule."""
    from assignment.models import Exposure

    data = generate(users=4, seed=13)
    exposed_at = datetime(2025, 3, 2, tzinfo=UTC)
    for user in ("first", "later"):
        events, expected = sessions_with_known_abandonment(user, exposed_at + timedelta(hours=1))
        store_events(events)
        Exposure.objects.create(
            experiment=data.experiment,
            phase=1,
            variant=data.treatment,
            user_id=user,
            first_exposed_at=exposed_at,
        )
        summary = do_run_rollups()
        assert summary.full == (user == "first")
        assert abandoned_sessions(user) == expected, user
    do_run_rollups(full=True)
    assert abandoned_sessions("first") == abandoned_sessions("later") == expected


@pytest.mark.django_db
def test_an_exposure_committed_after_a_larger_id_was_read_is_rolled_up():
    """Exposure ids are taken at insert and committed later: a run may read id n + 1 while
    id n is still in flight. The next run re-reads from the run before's watermark."""
    from assignment.models import Exposure

    data = generate(users=6, seed=17)
    overlap = timedelta(seconds=120)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    do_run_rollups(now=now)
    do_run_rollups(now=now + 3 * overlap)
    exposed_at = datetime(2025, 3, 2, 6, tzinfo=UTC)
    last_id = Exposure.objects.order_by("-id").values_list("id", flat=True).first()

    def expose(user: str, exposure_id: int) -> None:
        Exposure.objects.create(
            id=exposure_id,
            experiment=data.experiment,
            phase=1,
            variant=data.control,
            user_id=user,
            first_exposed_at=exposed_at,
        )
        store_events(
            [
                event(
                    f"{user}-imp",
                    "impression",
                    user,
                    exposed_at + timedelta(minutes=1),
                    request_id=f"{user}-r",
                    items=["a", "b"],
                )
            ]
        )

    expose("committed-first", last_id + 2)
    do_run_rollups(now=now + 6 * overlap)
    expose("committed-late", last_id + 1)  # its id was taken before the run above read +2
    do_run_rollups(now=now + 9 * overlap)
    assert UserDailyRollup.objects.filter(user_id="committed-late").exists()
    incremental = sorted(ArmDailyStats.objects.values_list("arm_id", "day", "sums"))
    do_run_rollups(full=True)
    assert sorted(ArmDailyStats.objects.values_list("arm_id", "day", "sums")) == incremental


@pytest.mark.django_db
def test_an_exposure_moved_earlier_is_rolled_up_from_its_earlier_time():
    """Two web processes buffer the same user's first exposure; the later one commits first.
    The earlier time must win, and the next incremental run must count the impressions
    between the two times in the analysis period, not in the pre-period."""
    from assignment import exposure_log
    from assignment.models import Exposure

    data = generate(users=6, seed=23)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    do_run_rollups(now=now)
    early = datetime(2025, 3, 2, 6, tzinfo=UTC)
    late = early + timedelta(hours=2)
    user = "two-processes"
    store_events(
        [
            event(
                f"{user}-{n}",
                "impression",
                user,
                early + timedelta(minutes=m),
                request_id=f"{user}-r{n}",
                items=["a"],
            )
            for n, m in enumerate((1, 30, 150))
        ]
    )
    # The process that saw the user second commits first...
    exposure_log.buffer.add(data.experiment.id, 1, user, data.control.id, late.timestamp())
    exposure_log.flush()
    do_run_rollups(now=now + timedelta(minutes=10))
    # ... then the process that saw it first (it has never written this key).
    exposure_log.buffer.forget()
    exposure_log.buffer.add(data.experiment.id, 1, user, data.control.id, early.timestamp())
    exposure_log.flush()
    assert Exposure.objects.get(user_id=user).first_exposed_at == early
    do_run_rollups(now=now + timedelta(minutes=20))
    rows = UserDailyRollup.objects.filter(user_id=user, scope="experiment")
    assert sum(r.impressions for r in rows if not r.is_pre) == 3
    assert sum(r.impressions for r in rows if r.is_pre) == 0
    incremental = sorted(ArmDailyStats.objects.values_list("arm_id", "day", "sums"))
    do_run_rollups(full=True)
    assert sorted(ArmDailyStats.objects.values_list("arm_id", "day", "sums")) == incremental
