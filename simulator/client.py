"""Simulated users driving the real HTTP API, with a ledger of what the platform acknowledged.

``Simulation.run`` starts ``clients`` threads; users arrive at ``rate`` per second (0: as fast
as the clients go). Each user may first send pre-period activity (watch and conversion events
backdated within the platform's accepted past window, before any exposure: what CUPED
reads), is assigned (``POST /assignments``, as a client app does), then plays
``Poisson(sessions_per_day * days)`` sessions back to back: ask ``/recommendations`` for the
surface (served in the variant of the assignment, else counted in ``inconsistent``), play the list
through the behaviour model (the planted effect applies to the target experiment's
non-control variants), and queue the session's events with the list's ``request_id``.

Events go out in batches of ``batch_size``, shuffled (out of order); a share of events is
held back to a later batch (late, with its original timestamp); a share is repeated inside
its batch (duplicates); a share of whole batches is sent a second time (a client retry after
a lost answer). Batches that fail are re-sent with backoff (ids make that safe). The ledger
credits each event once, when the batch that first carried it is acknowledged.

Time: events carry the sending machine's clock (the platform timestamps exposures with its
own), so over HTTP a simulated user's days are played back to back in real time; only the
pre-period is backdated. The in-process benchmarks use simulated days (``traffic``).
"""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simulator.api import ApiFailure, SimulationError, SplitlabApi
from simulator.behaviour import NO_EFFECT, BehaviourModel, Effect, SessionNoise, play_sessions
from simulator.ledger import Ledger
from simulator.population import Population

PAST_WINDOW_MARGIN_SECONDS = 3600.0  # keep backdated events an hour inside the 7-day window


@dataclass(frozen=True)
class RunSettings:
    """What one run does; ``check`` refuses impossible values naming the parameter."""

    surface: str = "home"
    experiment: str | None = None  # None: the one the surface's recommendations report
    users: int = 100
    rate: float = 10.0  # users arriving per second; 0: as fast as the clients go
    days: float = 1.0  # simulated days of sessions per user, played back to back
    k: int = 10
    clients: int = 4
    batch_size: int = 200
    retry_share: float = 0.10
    duplicate_share: float = 0.02
    late_share: float = 0.05
    cold_share: float = 0.10  # users unknown to the platform (new ids, no pre-period)
    pre_period_share: float = 0.7
    pre_days: float = 5.0
    max_sessions: int = 12
    duration_seconds: float | None = None
    live: bool = False  # users keep arriving until stopped
    control_variant: str = "control"
    effect: Effect = field(default_factory=Effect)

    def check(self) -> None:
        positive = {"users": self.users, "k": self.k, "clients": self.clients}
        for name, value in positive.items():
            if value < 1:
                raise SimulationError(name, f"must be at least 1, got {value}")
        if not np.isfinite(self.rate) or self.rate < 0:
            raise SimulationError(
                "rate", f"must be a number >= 0 (users per second), got {self.rate}"
            )
        if not self.days > 0:
            raise SimulationError("days", f"must be positive, got {self.days}")
        if not 0 <= self.pre_days <= 6:
            raise SimulationError("pre-days", "must lie in [0, 6] (the platform keeps 7 days)")
        if self.batch_size < 1 or self.batch_size > 10_000:
            raise SimulationError("batch-size", "must lie in [1, 10000]")
        if self.duration_seconds is not None and self.duration_seconds <= 0:
            raise SimulationError("duration", "must be positive")
        for name in ("retry_share", "duplicate_share", "late_share", "cold_share"):
            if not 0 <= getattr(self, name) <= 1:
                raise SimulationError(name.replace("_", "-"), "must lie in [0, 1]")


@dataclass
class _Pending:
    event: dict[str, Any]
    arm: tuple[str, str] | None  # credited to this (experiment, variant), None: not credited
    credit: dict[str, float]


class _Batcher:
    """One client thread's outgoing events: batches, late holds, duplicates, retries."""

    def __init__(self, sim: Simulation, rng: np.random.Generator) -> None:
        self.sim, self.rng = sim, rng
        self.pending: list[_Pending] = []

    def add(self, items: list[_Pending]) -> None:
        self.pending.extend(items)
        if len(self.pending) >= self.sim.settings.batch_size:
            self.flush(final=False)

    def flush(self, *, final: bool) -> None:
        settings = self.sim.settings
        while self.pending:
            late = np.zeros(len(self.pending), bool)
            if not final:
                late = self.rng.random(len(self.pending)) < settings.late_share
            batch = [p for p, held in zip(self.pending, late, strict=True) if not held]
            self.pending = [p for p, held in zip(self.pending, late, strict=True) if held]
            if batch:
                self._send(batch)
            if not final:
                return

    def _send(self, batch: list[_Pending]) -> None:
        settings = self.sim.settings
        order = self.rng.permutation(len(batch))
        events = [batch[i].event for i in order]
        repeats = [e for e in events if self.rng.random() < settings.duplicate_share]
        body = events + repeats
        answer = self._post(body)
        if answer is None:
            self.sim.ledger.unacknowledged(len(body), "no answer after retries")
            return
        rejected = {r.get("index") for r in answer.get("rejected", [])}
        credits: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
        converted: dict[tuple[str, str], list[str]] = defaultdict(list)
        for position, i in enumerate(order):
            item = batch[i]
            if item.arm is None or position in rejected:
                continue
            for name, value in item.credit.items():
                credits[item.arm][name] += value
            if item.event["type"] == "conversion":
                converted[item.arm].append(item.event["user_id"])
        self.sim.ledger.batch(answer, credits, converted, sent=len(body), retried=False)
        if self.rng.random() < settings.retry_share:  # the whole batch again, as after a timeout
            again = self._post(body)
            if again is not None:
                self.sim.ledger.batch(again, {}, {}, sent=len(body), retried=True)

    def _post(self, body: list[dict]) -> dict | None:
        for attempt in range(5):
            try:
                return self.sim.api.send_events(body)
            except ApiFailure:
                time.sleep(min(0.2 * 2**attempt, 3.0))
        return None


class Simulation:
    """A population playing sessions against a running server."""

    def __init__(
        self,
        api: SplitlabApi,
        population: Population,
        model: BehaviourModel,
        settings: RunSettings,
        ledger: Ledger,
        *,
        seed: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        settings.check()
        self.api, self.pop, self.model = api, population, model
        self.settings, self.ledger, self.seed, self.clock = settings, ledger, seed, clock
        self.experiment: str | None = settings.experiment
        self.users_done = 0
        self.errors: list[str] = []
        self.fatal: SimulationError | None = None
        self.inconsistent = 0  # lists served in another variant than the assignment said
        self._lock = threading.Lock()

    # --- checks before the run ---------------------------------------------------------------
    def prepare(self) -> str:
        """Check server, token, surface and experiment; returns the experiment's key."""
        self.api.check_access()
        if self.settings.experiment:
            (result,) = self.api.assign("simulator-probe", {}, [self.settings.experiment])
            if result["reason"] == "not_running":
                raise SimulationError("experiment", f"{self.settings.experiment!r} is not running")
            if result["in_experiment"]:
                self.ledger.exposure("simulator-probe", result["experiment"], result["variant"])
            return self.settings.experiment
        for i in range(20):  # a probe can fall in the holdout or outside coverage: ask a few
            user = f"simulator-probe-{i}"
            served = self.api.recommend(user, self.settings.surface, 1)
            if served.get("experiment") and served.get("in_experiment", True):
                self.ledger.exposure(user, served["experiment"], served["variant"])
                self.experiment = served["experiment"]
                return self.experiment
        raise SimulationError(
            "surface", f"no running experiment serves {self.settings.surface!r} (20 probes)"
        )

    # --- the run -----------------------------------------------------------------------------
    def run(self, stop: threading.Event | None = None) -> dict[str, Any]:
        """Play every user (or until ``stop``, ``duration_seconds``); returns progress."""
        stop = stop or threading.Event()
        arrivals: queue.Queue[int | None] = queue.Queue(maxsize=self.settings.clients * 4)
        workers = [
            threading.Thread(target=self._worker, args=(w, arrivals, stop), daemon=True)
            for w in range(self.settings.clients)
        ]
        for worker in workers:
            worker.start()
        started = time.monotonic()
        try:
            self._dispatch(arrivals, stop, started)
        except BaseException:  # Ctrl-C: clients skip the queued users and send what they hold
            stop.set()
            raise
        finally:
            for _ in workers:
                arrivals.put(None)
            for worker in workers:
                worker.join()
        if self.fatal is not None:
            raise self.fatal
        return {"users": self.users_done, "seconds": time.monotonic() - started}

    def _dispatch(self, arrivals: queue.Queue, stop: threading.Event, started: float) -> None:
        settings = self.settings
        i = 0
        while not stop.is_set() and (settings.live or i < settings.users):
            elapsed = time.monotonic() - started
            if settings.duration_seconds is not None and elapsed >= settings.duration_seconds:
                break
            if settings.rate > 0:
                wait = started + i / settings.rate - time.monotonic()
                if wait > 0:
                    stop.wait(wait)
                    continue
            try:
                arrivals.put(i, timeout=0.5)
            except queue.Full:
                continue
            i += 1

    def _worker(self, index: int, arrivals: queue.Queue, stop: threading.Event) -> None:
        rng = np.random.default_rng([self.seed, index])
        batcher = _Batcher(self, rng)
        try:
            while (arrival := arrivals.get()) is not None:
                if stop.is_set():
                    continue
                try:
                    batcher.add(self._play_user(arrival, rng))
                except SimulationError as exc:  # e.g. the token was revoked: stop the run
                    self.fatal = exc
                    stop.set()
                except ApiFailure as exc:
                    with self._lock:
                        self.errors.append(str(exc))
                with self._lock:
                    self.users_done += 1
        finally:
            batcher.flush(final=True)
            self.api.close()

    def user_id(self, arrival: int, rng: np.random.Generator) -> tuple[int, str, bool]:
        """(population row, external id, cold) of the ``arrival``-th user of the run."""
        row = arrival % self.pop.n_users
        base = str(self.pop.user_ids[row])
        if arrival >= self.pop.n_users:  # live runs: someone new with the same tastes
            base = f"{base}-r{arrival // self.pop.n_users}"
        cold = bool(rng.random() < self.settings.cold_share)
        return row, (f"new-{self.seed}-{base}" if cold else base), cold

    def _play_user(self, arrival: int, rng: np.random.Generator) -> list[_Pending]:
        row, user, cold = self.user_id(arrival, rng)
        out: list[_Pending] = []
        if not cold and rng.random() < self.settings.pre_period_share:
            out.extend(self._pre_period(row, user, rng))
        assigned = None
        if self.experiment:  # as a client app does: assign first, then ask for lists
            (result,) = self.api.assign(user, self.pop.attributes(row), [self.experiment])
            if result["in_experiment"]:
                assigned = result["variant"]
                self.ledger.exposure(user, result["experiment"], assigned)
        sessions = rng.poisson(self.pop.sessions_per_day[row] * self.settings.days)
        for _ in range(int(min(max(sessions, 1), self.settings.max_sessions))):
            out.extend(self._session(row, user, rng, assigned))
        return out

    def _pre_period(self, row: int, user: str, rng: np.random.Generator) -> list[_Pending]:
        """Watch and conversion events of the days before the user's first exposure."""
        n = rng.poisson(self.pop.sessions_per_day[row] * self.settings.pre_days)
        if n == 0:
            return []
        items = np.argsort(-self.pop.item_bias)[: self.settings.k]
        noise = SessionNoise.draw(n, len(items), rng)
        played = play_sessions(self.pop, self.model, np.full(n, row), np.tile(items, (n, 1)), noise)
        now = self.clock()
        span = self.settings.pre_days * 86400 - PAST_WINDOW_MARGIN_SECONDS
        out = []
        for s in range(n):
            ts = now - PAST_WINDOW_MARGIN_SECONDS - rng.random() * max(span, 0.0)
            for j in np.flatnonzero(played.clicks[s]):
                item = str(self.pop.item_ids[items[j]])
                seconds = round(float(played.watch_seconds[s, j]), 3)
                out.append(
                    _Pending(
                        self._event("watch", user, ts, item_id=item, seconds=seconds), None, {}
                    )
                )
                if played.conversions[s, j]:
                    out.append(
                        _Pending(self._event("conversion", user, ts + 1, value=1.0), None, {})
                    )
        return out

    def _event(self, kind: str, user: str, ts: float, **fields: Any) -> dict[str, Any]:
        return {
            "event_id": uuid.uuid4().hex,
            "type": kind,
            "user_id": user,
            "timestamp": round(ts, 6),
            **fields,
        }

    def _session(
        self, row: int, user: str, rng: np.random.Generator, assigned: str | None
    ) -> list[_Pending]:
        settings = self.settings
        device = self.pop.demographics["platform"][row]
        served = self.api.recommend(user, settings.surface, settings.k, device=str(device))
        experiment, variant = served.get("experiment"), served.get("variant")
        arm = (experiment, variant) if experiment and served.get("in_experiment", True) else None
        if experiment == self.experiment and assigned is not None and variant != assigned:
            with self._lock:  # /assignments and /recommendations disagree: a platform bug
                self.inconsistent += 1
        if arm:
            self.ledger.exposure(user, experiment, variant)
        item_ids = [it["item_id"] for it in served.get("items", [])]
        session = uuid.uuid4().hex
        common = {"session_id": session, "surface": settings.surface}
        if arm:
            common.update(experiment=experiment, variant=variant)
        now = self.clock()
        out: list[_Pending] = []

        def add(kind: str, credit: dict[str, float], **fields: Any) -> None:
            ts = now + 0.001 * len(out)  # increasing within the session
            out.append(_Pending(self._event(kind, user, ts, **common, **fields), arm, credit))

        add("session_start", {"sessions": 1.0})
        if not item_ids:
            add("session_end", {"abandoned": 1.0})
            return out
        effect = NO_EFFECT
        if experiment == self.experiment and variant != settings.control_variant:
            effect = settings.effect
        items = self.pop.item_indices(item_ids)
        noise = SessionNoise.draw(1, len(items), rng)
        played = play_sessions(self.pop, self.model, np.array([row]), items[None, :], noise, effect)
        request = served["request_id"]
        positions = [{"item_id": x, "position": p} for p, x in enumerate(item_ids)]
        add(
            "impression", {"impressions": float(len(item_ids))}, request_id=request, items=positions
        )
        clicked = np.flatnonzero(played.clicks[0])
        if len(clicked):
            add(
                "first_interaction",
                {},
                seconds=round(float(played.first_interaction_seconds[0]), 3),
            )
        for j in clicked:
            add("click", {"clicks": 1.0}, request_id=request, item_id=item_ids[j], position=int(j))
            seconds = round(float(played.watch_seconds[0, j]), 3)
            add("watch", {"watch_seconds": seconds}, item_id=item_ids[j], seconds=seconds)
            if played.conversions[0, j]:
                add("conversion", {"conversions": 1.0}, value=round(float(rng.gamma(2.0, 5.0)), 2))
        add("session_end", {"abandoned": 0.0 if len(clicked) else 1.0})
        return out
