"""HTTP assignment throughput and latency against the trivial authenticated endpoint.

Creates a scratch PostgreSQL database (``splitlab_bench_assign``, cloned from a migrated
template), loads 10 running experiments (two layers, targeting, 2 and 3 variants), starts
gunicorn with 2 sync workers on a free port, and drives with ``wrk`` at 32 connections:

1. ``POST /api/v1/assignments`` for one user (a new id on every request) across all running
   experiments, token-authenticated;
2. ``GET /api/v1/ping``, token-authenticated (the reference).

Both are driven through a wrk Lua ``request()`` function (the load generator shares the
machine, so it must cost the same for both), alternating in ``--rounds`` runs of at least 10
seconds each. Then it stops gunicorn gracefully (SIGTERM) and checks that every exposure
reached the database: each user's rows are exactly the experiments ``assign_user`` puts it
in. Prints a summary line: requests/s, p50 and p99 for both, the throughput ratio, and the
server's CPU milliseconds per request (a figure that other load on the machine disturbs
less than throughput); then one line per target below, each with PASS or MISS.

3. Access control's cost: the server above runs with scopes and throttling on (a ``serve``-only
   key, a token bucket taken per request in the cache: Redis at ``--cache-url``, default
   ``$SPLITLAB_BENCH_REDIS``, else each process's memory; the client's limit is set above
   the load so that no request is refused); a second gunicorn runs with throttling off and an
   all-scopes key, and assignment runs alternate between the two.

Targets: assignment throughput >= 0.7 x the trivial endpoint's; assignment p99 <= 25 ms;
with scopes and throttling on, >= 0.9 x the assignment throughput without.

    .venv/bin/python benchmarks/assignment_http.py [--quick] [--duration 10] [--connections 32]

Needs ``wrk`` (Debian/Ubuntu: ``apt-get install -y wrk``) and PostgreSQL at
``--server-url`` (default postgres://postgres@127.0.0.1:5432/postgres).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _events_support import (  # noqa: E402 - the benchmarks folder is not a package
    DEFAULT_SERVER_URL,
    create_scratch_database,
    drop_database,
    gunicorn,
    setup_django,
)

DATABASE_NAME = "splitlab_bench_assign"
RATIO_TARGET = 0.7
ACCESS_RATIO_TARGET = 0.9
P99_TARGET_MS = 25.0
EXPERIMENTS = 10
ATTRIBUTES = {"country": "US", "platform": "ios"}

LUA_PING = """
local headers = {["Authorization"] = "Token %(token)s"}
function request()
  return wrk.format("GET", "/api/v1/ping", headers, nil)
end
"""

LUA_ASSIGN = """
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
local counter = 0
local run = "0"
function init(args)
  run = args[1] or "0"
end
local headers = {["Content-Type"] = "application/json", ["Authorization"] = "Token %(token)s"}
function request()
  counter = counter + 1
  local body = '{"user_id":"bench-' .. run .. '-' .. tid .. '-' .. counter ..
    '","attributes":{"country":"US","platform":"ios"}}'
  return wrk.format("POST", "/api/v1/assignments", headers, body)
end
"""


def load_experiments() -> None:
    from experiments import services

    layers = [services.do_create_layer(f"http-layer-{n}") for n in range(2)]
    for i in range(EXPERIMENTS):
        fields: dict = {}
        layer = layers[i // 5]
        if i % 5 == 1:
            fields["targeting"] = {"country": ["US", "DE"], "platform": {"$ne": "tv"}}
        if i % 5 == 2:
            fields.update(layer=layer, layer_start=0.0, layer_end=0.5)
        if i % 5 == 3:
            fields.update(layer=layer, layer_start=0.5, layer_end=1.0)
        variants = [{"key": "control", "is_control": True}, {"key": "treatment"}]
        if i % 3 == 0:
            variants.append({"key": "treatment-2", "weight": 0.5})
        experiment = services.do_create_experiment(
            key=f"http-{i}", name=f"http {i}", variants=variants, **fields
        )
        services.do_start_experiment(experiment, None)


def _milliseconds(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def server_cpu_seconds(port: str) -> float:
    """User + system CPU seconds used so far by the gunicorn processes bound to ``port``."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            if "gunicorn" not in cmdline or f"127.0.0.1:{port}" not in cmdline:
                continue
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total


def run_wrk(args: list[str], port: str) -> dict[str, float]:
    """Run wrk with ``--latency``; returns requests/s, p50/p99 (ms), requests, errors, and
    the server's CPU milliseconds per request (robust to other load on the machine)."""
    cpu_before = server_cpu_seconds(port)
    output = subprocess.run(
        ["wrk", "--latency", *args], capture_output=True, text=True, check=True
    ).stdout
    figures = {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p50": _milliseconds(re.search(r"\s50%\s+(\S+)", output).group(1)),
        "p99": _milliseconds(re.search(r"\s99%\s+(\S+)", output).group(1)),
        "requests": float(re.search(r"(\d+) requests in", output).group(1)),
    }
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: (.*)", output)
    figures["non_2xx"] = float(bad.group(1)) if bad else 0.0
    figures["cpu_ms"] = (server_cpu_seconds(port) - cpu_before) * 1000 / figures["requests"]
    if errors:
        print(f"wrk: socket errors: {errors.group(1)}", file=sys.stderr)
    return figures


def combine(runs: list[dict[str, float]]) -> dict[str, float]:
    """Rounds of one endpoint: mean throughput and CPU, the worst p50 and p99."""
    return {
        "rps": statistics.fmean(r["rps"] for r in runs),
        "p50": max(r["p50"] for r in runs),
        "p99": max(r["p99"] for r in runs),
        "requests": sum(r["requests"] for r in runs),
        "non_2xx": sum(r["non_2xx"] for r in runs),
        "cpu_ms": statistics.fmean(r["cpu_ms"] for r in runs),
    }


def check_exposures() -> tuple[int, int]:
    """(users with exposures, users whose exposures are exactly those the service assigns).

    The oracle is ``assign_user`` itself (no logging): every benchmark user has the same
    attributes, and the layers split users between their experiments.
    """
    from assignment.models import Exposure
    from assignment.services import assign_user

    exposed: dict[str, set[str]] = {}
    rows = Exposure.objects.filter(user_id__startswith="bench-").values_list(
        "user_id", "experiment__key"
    )
    for user_id, key in rows.iterator():
        exposed.setdefault(user_id, set()).add(key)
    complete = 0
    for user_id, keys in exposed.items():
        results = assign_user(user_id, ATTRIBUTES, log_exposure=False)
        complete += keys == {r.experiment for r in results if r.reason == "assigned"}
    return len(exposed), complete


@contextmanager
def environment(**variables: str) -> Iterator[None]:
    """``os.environ`` with ``variables`` set (the gunicorn helper copies it), then restored."""
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def access_tokens() -> tuple[str, str]:
    """(a ``serve``-only key whose limits exceed the load, an all-scopes key)."""
    from accounts.models import ApiClient
    from accounts.services import create_api_client

    scoped, _ = create_api_client("benchmark-serve", scopes=["serve"])
    unbounded = {"rate": 1_000_000, "burst": 1_000_000}
    ApiClient.objects.filter(name="benchmark-serve").update(
        rate_limits={"serve": unbounded, "any": unbounded}
    )
    everything, _ = create_api_client("benchmark")
    return scoped, everything


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3-second runs (CI smoke test)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per endpoint")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--rounds", type=int, default=2, help="alternating runs per endpoint")
    parser.add_argument("--server-url", default=DEFAULT_SERVER_URL)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument(
        "--cache-url",
        default=os.environ.get("SPLITLAB_BENCH_REDIS", ""),
        help="Redis for the throttle's buckets (default $SPLITLAB_BENCH_REDIS; empty: memory)",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("assignment_http: wrk is not installed (apt-get install -y wrk) MISS")
        return 2
    duration = 3 if args.quick else max(args.duration, 10)
    rounds = 1 if args.quick else args.rounds
    url = create_scratch_database(args.server_url, DATABASE_NAME)
    try:
        setup_django(url)
        load_experiments()
        token, token_all = access_tokens()
        common = [f"-t{args.threads}", f"-c{args.connections}"]
        throttled = {"SPLITLAB_THROTTLE_ENABLED": "true", "SPLITLAB_CACHE_URL": args.cache_url}
        with tempfile.TemporaryDirectory() as folder:
            folder_path = Path(folder)
            assign_script, ping_script = folder_path / "assign.lua", folder_path / "ping.lua"
            assign_script.write_text(LUA_ASSIGN % {"token": token})
            ping_script.write_text(LUA_PING % {"token": token})
            open_script = folder_path / "assign-open.lua"
            open_script.write_text(LUA_ASSIGN % {"token": token_all})
            with (
                environment(**throttled),
                gunicorn(url, workers=2) as base,
                environment(SPLITLAB_THROTTLE_ENABLED="false", SPLITLAB_CACHE_URL=""),
                gunicorn(url, workers=2) as open_base,
            ):
                # Both endpoints are driven through a Lua request() so the load generator,
                # which shares the machine, costs the same for both.
                ping = [*common, "-s", str(ping_script), f"{base}/api/v1/ping"]
                assign = [*common, "-s", str(assign_script), f"{base}/api/v1/assignments"]
                assign_open = [
                    *common, "-s", str(open_script), f"{open_base}/api/v1/assignments"
                ]  # fmt: skip
                port = base.rsplit(":", 1)[1]
                open_port = open_base.rsplit(":", 1)[1]
                warm = "-d1s" if args.quick else "-d2s"
                run_wrk([warm, *ping], port)  # warm both workers and their connections
                run_wrk([warm, *assign, "--", "warm"], port)
                run_wrk([warm, *assign_open, "--", "warm-open"], open_port)
                ping_runs, assign_runs, open_runs = [], [], []
                for number in range(rounds):  # alternate, so drifting load hits all alike
                    ping_runs.append(run_wrk([f"-d{duration}s", *ping], port))
                    # A distinct tag per run keeps every user id new.
                    assign_runs.append(
                        run_wrk([f"-d{duration}s", *assign, "--", f"r{number}"], port)
                    )
                    open_runs.append(
                        run_wrk([f"-d{duration}s", *assign_open, "--", f"o{number}"], open_port)
                    )
        ping_figures, assign_figures = combine(ping_runs), combine(assign_runs)
        open_figures = combine(open_runs)
        users, complete = check_exposures()
    finally:
        if not args.keep:
            from django.db import connections

            connections.close_all()
            drop_database(args.server_url, DATABASE_NAME)
    ratio = assign_figures["rps"] / ping_figures["rps"]
    access_ratio = assign_figures["rps"] / open_figures["rps"]
    served = assign_figures["requests"] + open_figures["requests"]
    exposures_ok = users >= served and complete == users
    print(
        f"assignment_http: assign {assign_figures['rps']:.0f} req/s "
        f"p50 {assign_figures['p50']:.2f} ms p99 {assign_figures['p99']:.2f} ms | "
        f"ping {ping_figures['rps']:.0f} req/s p50 {ping_figures['p50']:.2f} ms "
        f"p99 {ping_figures['p99']:.2f} ms | ratio {ratio:.2f} "
        f"(server CPU per request: assign {assign_figures['cpu_ms']:.2f} ms, "
        f"ping {ping_figures['cpu_ms']:.2f} ms, ratio "
        f"{ping_figures['cpu_ms'] / assign_figures['cpu_ms']:.2f}) "
        f"({args.connections} connections, {rounds} x {duration} s each, gunicorn 2 sync "
        f"workers, PostgreSQL; exposures of {users} users written, {served:.0f} answered to "
        f"wrk, non-2xx {assign_figures['non_2xx'] + ping_figures['non_2xx']:.0f}) | "
        f"access control: assign with scopes and throttling {assign_figures['rps']:.0f} req/s "
        f"vs without {open_figures['rps']:.0f} req/s (p99 {open_figures['p99']:.2f} ms, "
        f"server CPU per request {assign_figures['cpu_ms']:.2f} vs "
        f"{open_figures['cpu_ms']:.2f} ms, non-2xx {open_figures['non_2xx']:.0f}, "
        f"buckets in {'Redis' if args.cache_url else 'memory'}), ratio {access_ratio:.2f}"
    )
    non_2xx = assign_figures["non_2xx"] + ping_figures["non_2xx"] + open_figures["non_2xx"]
    verdicts = [
        (
            f"throughput {ratio:.2f}x the trivial endpoint",
            f">= {RATIO_TARGET}x",
            ratio >= RATIO_TARGET,
        ),
        (
            f"assignment p99 {assign_figures['p99']:.1f} ms",
            f"<= {P99_TARGET_MS:.0f} ms",
            assign_figures["p99"] <= P99_TARGET_MS,
        ),
        (
            f"with scopes and throttling {access_ratio:.2f}x the throughput without",
            f">= {ACCESS_RATIO_TARGET}x",
            access_ratio >= ACCESS_RATIO_TARGET,
        ),
        (
            f"non-2xx {non_2xx:.0f}, exposures complete {complete}/{users}",
            "0, every answered user stored",
            non_2xx == 0 and exposures_ok,
        ),
    ]
    for figure, target, passed in verdicts:
        print(f"assignment_http: {figure} (target {target}) {'PASS' if passed else 'MISS'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
