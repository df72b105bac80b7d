"""The simulator against a live server: the ledger equals what the platform stored and reports.

Tiny size (a few dozen users, two concurrent clients) with a third of the batches sent twice,
duplicates inside batches and late, out-of-order events; then the exposures are flushed, the
rollup runs, and the report's CSV export must show exactly the ledger's counts.
"""

from __future__ import annotations

import csv
import io
import socket
from io import StringIO

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from simulator.api import SimulationError, SplitlabApi
from simulator.behaviour import BehaviourModel, Effect
from simulator.client import RunSettings, Simulation
from simulator.ledger import Ledger
from simulator.population import generate_population


def _running_experiment():
    from experiments import services as experiments
    from experiments.models import MetricDefinition
    from tests.recommenders.serving_data import load_planted_catalogue, make_config

    load_planted_catalogue()
    control = make_config("popular", is_default=True)
    treatment = make_config("popular-b")
    experiment = experiments.do_create_experiment(
        key="sim-exp",
        name="Simulated",
        surface="home",
        variants=[
            {"key": "control", "is_control": True, "recommender_config": control},
            {"key": "treatment", "recommender_config": treatment},
        ],
        primary_metric=MetricDefinition.objects.get(kind="ctr"),
        guardrail_metrics=MetricDefinition.objects.filter(kind="session_abandonment"),
        secondary_metrics=MetricDefinition.objects.filter(
            kind__in=["conversion_rate", "watch_time"]
        ),
    )
    experiments.do_start_experiment(experiment, None)
    return experiment


def _csv(staff_client) -> dict[tuple[str, str], dict[str, str]]:
    response = staff_client.get("/reports/sim-exp/export.csv")
    assert response.status_code == 200
    rows = csv.DictReader(io.StringIO(response.content.decode()))
    return {(r["metric"], r["variant"]): r for r in rows}


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_ledger_equals_stored_events_and_the_report(live_server, staff_client, tmp_path):
    from accounts.services import create_api_client
    from analytics.models import Event
    from analytics.services.rollups import do_run_rollups
    from assignment.services import flush_exposures

    _running_experiment()
    token, _ = create_api_client("simulator")
    population = generate_population(40, 60, rng=np.random.default_rng(0))
    settings = RunSettings(
        surface="home", users=36, rate=0, days=2, k=6, clients=2, batch_size=40,
        retry_share=0.3, duplicate_share=0.1, late_share=0.2, cold_share=0.2,
        effect=Effect(attraction=0.5),
    )  # fmt: skip
    ledger_path = tmp_path / "ledger.jsonl"
    ledger = Ledger(ledger_path)
    api = SplitlabApi(live_server.url, token)
    simulation = Simulation(api, population, BehaviourModel(), settings, ledger, seed=3)
    assert simulation.prepare() == "sim-exp"
    simulation.run()
    ledger.end("finished")
    assert simulation.users_done == 36 and not simulation.errors
    assert simulation.inconsistent == 0

    progress = ledger.progress()
    assert progress["batches_retried"] > 0 and progress["rejected"] == 0
    assert progress["batches_unacknowledged"] == 0
    assert Event.objects.count() == progress["events_stored"]
    assert progress["duplicates_reported"] == progress["events_sent"] - progress["events_stored"]

    flush_exposures()
    do_run_rollups()
    rows = _csv(staff_client)
    totals = Ledger.load(ledger_path).totals("sim-exp")
    assert totals == ledger.totals("sim-exp")  # the file says the same as the run
    assert set(totals) == {"control", "treatment"}
    for variant, side in (("control", "control"), ("treatment", "treatment")):
        ctr = rows[("ctr", "treatment")]
        assert int(ctr[f"{side}_users"]) == totals[variant]["exposed_users"]
        assert float(ctr[f"{side}_numerator"]) == totals[variant]["clicks"]
        assert float(ctr[f"{side}_denominator"]) == totals[variant]["impressions"]
        conversion = rows[("conversion_rate", "treatment")]
        assert float(conversion[f"{side}_numerator"]) == totals[variant]["converted_users"]
        watch = rows[("watch_time", "treatment")]
        assert float(watch[f"{side}_numerator"]) == pytest.approx(
            totals[variant]["watch_seconds"], abs=1e-6
        )
        abandonment = rows[("session_abandonment", "treatment")]
        assert float(abandonment[f"{side}_numerator"]) == totals[variant]["abandoned"]
        assert float(abandonment[f"{side}_denominator"]) == totals[variant]["sessions"]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_simulate_stops_with_one_line_naming_the_parameter(live_server):
    from accounts.services import create_api_client

    token, _ = create_api_client("simulator")

    def fails(*args: str) -> str:
        with pytest.raises(CommandError) as info:
            call_command("simulate", *args, stdout=StringIO(), stderr=StringIO())
        message = str(info.value)
        assert "\n" not in message
        return message

    base = ["--base-url", live_server.url, "--token", token, "--users", "2"]
    assert fails(*base, "--rate", "-1").startswith("rate: ")
    assert fails(*base, "--planted-lift", "-1.5").startswith("planted-lift: ")
    assert fails(*base, "--days", "0").startswith("days: ")
    assert fails("--base-url", live_server.url, "--token", "wrong").startswith("token: ")
    assert fails(*base, "--surface", "home").startswith("surface: no running experiment")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    assert fails("--base-url", f"http://127.0.0.1:{port}", "--token", token).startswith(
        "base-url: cannot reach"
    )


def test_run_settings_name_the_bad_parameter():
    with pytest.raises(SimulationError, match="^rate: "):
        RunSettings(rate=-0.5).check()
    with pytest.raises(SimulationError, match="^users: "):
        RunSettings(users=0).check()
    with pytest.raises(SimulationError, match="^base-url: "):
        SplitlabApi("localhost:8000", "t")
    # a missing key says how to make one in the README's form (a bare python has no Django)
    with pytest.raises(SimulationError) as missing:
        SplitlabApi("http://127.0.0.1:8000", "")
    assert 'make manage ARGS="create_api_client NAME --scopes serve analyze"' in str(missing.value)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_simulate_live_runs_until_its_duration_and_closes_the_ledger(live_server, tmp_path):
    import json

    from accounts.services import create_api_client

    _running_experiment()
    token, _ = create_api_client("simulator")
    ledger = tmp_path / "live.jsonl"
    out = StringIO()
    call_command(
        "simulate", "--base-url", live_server.url, "--token", token, "--live", "--rate", "20",
        "--duration", "1.5", "--ledger", str(ledger), "--planted-lift", "0.25",
        "--population", "50", "--items", "30", stdout=out, stderr=StringIO(),
    )  # fmt: skip
    assert out.getvalue().startswith("finished: ")
    lines = [json.loads(line) for line in ledger.read_text().splitlines()]
    assert lines[0]["line"] == "start" and lines[0]["planted_lift"] == 0.25
    assert {"line": "experiment", "key": "sim-exp"} in lines
    assert lines[-1]["line"] == "end" and lines[-1]["batches_acknowledged"] >= 1
    totals = Ledger.load(ledger).totals("sim-exp")
    assert sum(v["exposed_users"] for v in totals.values()) >= 5


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_interrupted_run_stores_what_it_sent_once_and_its_ledger_says_so(live_server, tmp_path):
    import threading

    from accounts.services import create_api_client
    from analytics.models import Event

    _running_experiment()
    token, _ = create_api_client("simulator")
    ledger_path = tmp_path / "interrupted.jsonl"
    ledger = Ledger(ledger_path)
    settings = RunSettings(users=10_000, rate=0, clients=2, batch_size=30, retry_share=0.5)
    population = generate_population(50, 30, rng=np.random.default_rng(4))
    simulation = Simulation(
        SplitlabApi(live_server.url, token), population, BehaviourModel(), settings, ledger
    )
    simulation.prepare()
    stop = threading.Event()
    threading.Timer(1.5, stop.set).start()
    simulation.run(stop)  # returns once the clients have sent what they held
    ledger.end("interrupted")
    assert 0 < simulation.users_done < 10_000
    loaded = Ledger.load(ledger_path)
    assert loaded.events_stored == ledger.events_stored == Event.objects.count()
    assert loaded.batches_unacknowledged == 0
