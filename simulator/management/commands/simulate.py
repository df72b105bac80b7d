"""``manage.py simulate``: simulated users against a running Splitlab, through its HTTP API.

The command only parses options and reports; it imports nothing from the apps (the
simulator speaks the public API). Bad input stops with one line naming the option.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np
from django.core.management.base import BaseCommand, CommandError, CommandParser

from simulator.api import ApiFailure, SimulationError, SplitlabApi
from simulator.behaviour import BehaviourModel, Effect
from simulator.client import RunSettings, Simulation
from simulator.ledger import Ledger
from simulator.population import fit_population, generate_population
from simulator.rehearsal import rehearse

LIFT_TARGETS = ("attraction", "watch", "first_interaction")
RECORDED = ("base_url", "surface", "experiment", "users", "rate", "days", "planted_lift",
            "lift_on", "control_variant", "seed", "live", "duration")  # fmt: skip


class Command(BaseCommand):
    help = "Drive a running server with simulated users (assignments, lists, events)."

    def add_arguments(self, parser: CommandParser) -> None:
        add = parser.add_argument
        add("--base-url", default="http://127.0.0.1:8000", help="the server to drive")
        add("--token", default=os.environ.get("SPLITLAB_SIM_TOKEN", ""), help="API token")
        add("--surface", default="home", help="surface asked for recommendations")
        add("--experiment", default=None, help="experiment key (default: the surface's)")
        add("--users", type=int, default=200, help="users to play (ignored with --live)")
        add("--rate", type=float, default=10.0, help="users arriving per second (0: no pacing)")
        add("--days", type=float, default=1.0, help="simulated days of sessions per user")
        add("--planted-lift", type=float, default=0.0, help="relative effect, 0.1 = +10%%")
        add("--lift-on", choices=LIFT_TARGETS, default="attraction", help="what the lift changes")
        add("--control-variant", default="control", help="the variant without the lift")
        add("--pre-days", type=float, default=5.0, help="pre-period days backdated (<= 6)")
        add("--seed", type=int, default=0)
        add("--duration", type=float, default=None, help="stop after these seconds")
        add("--ledger", default=None, help="ledger file (JSON lines; default under var/)")
        add("--live", action="store_true", help="keep users arriving until stopped")
        add("--clients", type=int, default=4, help="concurrent HTTP clients")
        add("--batch-size", type=int, default=200, help="events per batch")
        add("--retry-share", type=float, default=0.1, help="share of batches sent twice")
        add("--k", type=int, default=10, help="items per list")
        add("--data", default=None, help="ratings file to fit tastes from (MovieLens)")
        add("--population", type=int, default=2000, help="distinct simulated users")
        add("--items", type=int, default=500, help="simulated items (generated population)")
        add("--wait", type=float, default=0.0, help="seconds to wait for the server to answer")
        add("--rehearse", action="store_true", help="rehearse an experiment (no traffic sent)")
        add("--users-per-day", type=int, default=1000, help="rehearsal: new users a day")
        add("--replicates", type=int, default=50, help="rehearsal: experiments simulated")

    def handle(self, *args: object, **o) -> None:
        if not np.isfinite(o["planted_lift"]) or o["planted_lift"] < -1:
            raise CommandError(f"planted-lift: must be >= -1 (-100%), got {o['planted_lift']}")
        if o["population"] < 1 or o["items"] < 1:
            raise CommandError("population: --population and --items must be at least 1")
        settings = RunSettings(
            surface=o["surface"],
            experiment=o["experiment"],
            users=o["users"],
            rate=o["rate"],
            days=o["days"],
            pre_days=o["pre_days"],
            k=o["k"],
            clients=o["clients"],
            batch_size=o["batch_size"],
            retry_share=o["retry_share"],
            duration_seconds=o["duration"],
            live=o["live"],
            control_variant=o["control_variant"],
            effect=Effect(**{o["lift_on"]: o["planted_lift"]}),
        )
        try:
            settings.check()
            api = SplitlabApi(o["base_url"], o["token"])
            population = self._population(o)
        except (SimulationError, ValueError) as exc:
            raise CommandError(str(exc)) from None
        if o["rehearse"]:
            self._rehearse(api, population, settings.effect, o)
            return
        ledger_path = Path(o["ledger"] or f"var/simulator/ledger-{int(time.time())}.jsonl")
        ledger_path.parent.mkdir(parents=True, exist_ok=True)
        ledger = Ledger(ledger_path)
        simulation = Simulation(api, population, BehaviourModel(), settings, ledger, seed=o["seed"])
        self._run(simulation, ledger, ledger_path, o)

    def _wait_for_server(self, api: SplitlabApi, seconds: float) -> None:
        """Retry the access check for ``seconds`` (a launcher may start us before the web)."""
        deadline = time.monotonic() + max(seconds, 0.0)
        while True:
            try:
                api.check_access()
                return
            except SimulationError as exc:
                if exc.parameter != "base-url" or time.monotonic() >= deadline:
                    raise
                time.sleep(1.0)

    def _rehearse(self, api: SplitlabApi, population, effect: Effect, o: dict) -> None:
        days = int(o["days"])
        if days < 1 or o["days"] != days:
            raise CommandError("days: a rehearsal needs a whole number of days >= 1")
        if o["users_per_day"] < 2 or o["replicates"] < 1:
            raise CommandError("users-per-day: need >= 2 users a day and >= 1 replicate")
        try:
            api.check_access()
            days_found = rehearse(
                api.analyze, population, BehaviourModel(), effect,
                users_per_day=o["users_per_day"], days=days, replicates=o["replicates"],
                rng=np.random.default_rng(o["seed"]), k=o["k"],
            )  # fmt: skip
        except (SimulationError, ApiFailure) as exc:
            raise CommandError(str(exc)) from None
        for result in days_found:
            self.stdout.write(
                f"day {result.day}: {result.exposed_users:,.0f} users exposed, effect found "
                f"in {result.detection_rate:.0%} of {o['replicates']} rehearsals"
            )
        enough = next((r.day for r in days_found if r.detection_rate >= 0.8), None)
        self.stdout.write(
            f"80% of rehearsals find the effect from day {enough}"
            if enough
            else f"fewer than 80% of rehearsals find the effect within {days} days"
        )

    def _population(self, o: dict):
        rng = np.random.default_rng(o["seed"])
        if o["data"]:
            path = Path(o["data"])
            if not path.is_file():
                raise SimulationError("data", f"no ratings file at {path}")
            return fit_population(
                path, rng=rng, n_users=o["population"], n_items=max(o["items"], 50)
            )
        return generate_population(o["population"], o["items"], rng=rng, prefix=f"sim{o['seed']}")

    def _run(self, simulation: Simulation, ledger: Ledger, path: Path, o: dict) -> None:
        stop = threading.Event()
        reason = "finished"
        try:
            self._wait_for_server(simulation.api, o["wait"])
            ledger.start(**{k: o[k] for k in RECORDED})
            experiment = simulation.prepare()
            ledger.target(experiment)
            self.stderr.write(
                f"Simulating on {o['surface']!r} against {experiment!r}; ledger {path}"
            )
            simulation.run(stop)
        except SimulationError as exc:
            reason = str(exc)
            raise CommandError(str(exc)) from None
        except KeyboardInterrupt:
            stop.set()
            reason = "interrupted"
        finally:
            ledger.end(reason)
        self._report(simulation, ledger, path, reason)

    def _report(self, simulation: Simulation, ledger: Ledger, path: Path, reason: str) -> None:
        progress = ledger.progress()
        self.stdout.write(
            f"{reason}: {simulation.users_done} users, {progress['batches_acknowledged']} batches "
            f"acknowledged ({progress['batches_retried']} retried, "
            f"{progress['batches_unacknowledged']} unacknowledged), "
            f"{progress['events_stored']} events stored; ledger {path}"
        )
        for variant, totals in ledger.totals(simulation.experiment).items():
            ctr = totals["clicks"] / totals["impressions"] if totals["impressions"] else 0.0
            self.stdout.write(
                f"  {variant}: {totals['exposed_users']} exposed, "
                f"{int(totals['impressions'])} impressions, {int(totals['clicks'])} clicks "
                f"(CTR {ctr:.4f}), {totals['converted_users']} converted"
            )
