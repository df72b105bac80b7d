"""End-to-end latency of ``GET /api/v1/recommendations`` through a serving worker.

gunicorn (2 sync workers) plus one Celery serving worker (prefork, 2 processes; ``--pool``
and ``--worker-concurrency`` to compare others) on PostgreSQL and Redis (or the embedded
SQLite + filesystem broker when they are not running), the ML-1M catalogue, and the best
variant available: the two-tower ``pipeline`` when the registry has it, else ALS. ``wrk``
drives 16 connections for 30 s over the users of the catalogue (5% of requests for unknown
users, answered by cold start), first saturating the host (each connection sends its next
request as soon as the answer arrives), then paced: the same connections each pause after
every answer so that together they offer half the saturated throughput (``--paced-fraction``),
which shows the latency of a request that does not queue behind others. Prints one line per
run: requests/s, p50, p99, the fallback rate and the CPU per request of the web and worker
processes, against the targets p50 <= 15 ms, p99 <= 50 ms, fallback < 0.1%.

Saturated, 16 closed-loop connections hold 16 requests in the system at once, so by Little's
law p50 <= 15 ms needs about 16 / 0.015 = 1,000+ requests/s from the host.

``--quick``: a generated catalogue, ALS, 3 s (a smoke run, for tests). Needs ``wrk``.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import _serving_support as support  # noqa: E402

TARGET_P50_MS, TARGET_P99_MS, TARGET_FALLBACK = 15.0, 50.0, 0.001
CONFIG_PREFIX = "bench-serving"


def choose_algorithm(quick: bool, requested: str | None) -> tuple[str, dict]:
    from recommenders.core.registry import MODEL_NAMES

    if requested == "als":
        return "als", {"factors": 64, "iterations": 15}
    if requested not in (None, "pipeline"):
        raise SystemExit(f"--algorithm: pipeline or als, not {requested!r}")
    if not quick and "pipeline" in MODEL_NAMES:
        # Two epochs of the towers bound the training time on a shared 2-core machine;
        # serving latency does not depend on how long the towers were trained.
        return "pipeline", {"two_tower": {"epochs": 2}}
    return "als", {"factors": 64, "iterations": 15} if not quick else {}


def prepare_config(algorithm: str, params: dict) -> int:
    """The default config on the algorithm, trained in process (once: an earlier run's
    version is reused while its params and artifacts are the same); returns its version."""
    from recommenders.models import ModelVersion, RecommenderConfig
    from recommenders.services import training

    name = f"{CONFIG_PREFIX}-{algorithm}"
    RecommenderConfig.objects.exclude(name=name).update(is_default=False)
    config, _ = RecommenderConfig.objects.update_or_create(
        name=name, defaults={"algorithm": algorithm, "params": params, "is_default": True}
    )
    active = config.versions.filter(status=ModelVersion.Status.ACTIVE).first()
    reusable = (
        active is not None
        and (active.algorithm, active.params) == (algorithm, params)
        and Path(active.artifact_path, "manifest.json").is_file()
        and _loads(Path(active.artifact_path, "model"))
    )
    if reusable:
        return active.pk
    # versions left running by an interrupted earlier run of this benchmark
    config.versions.filter(status__in=ModelVersion.RUNNING_STATUSES).update(
        status=ModelVersion.Status.FAILED, error="interrupted benchmark run"
    )
    version = training.do_start_training(config, trigger="command", enqueue=False)
    version = training.run_pipeline_in_process(version.pk)
    if version.status != ModelVersion.Status.ACTIVE:
        version = training.do_promote_model_version(version, reason="benchmark")
    return version.pk


def _loads(folder: Path) -> bool:
    """Whether the saved model still loads (its format may have changed since)."""
    from recommenders.core.registry import load_model

    try:
        load_model(folder)
    except Exception as error:  # any failure means: train again
        print(f"serving_http: retraining, saved model does not load ({error!r})", file=sys.stderr)
        return False
    return True


def user_ids(limit: int = 6040) -> list[str]:
    from recommenders.models import UserProfile

    known = list(UserProfile.objects.order_by("pk").values_list("external_id", flat=True)[:limit])
    unknown = [f"new-user-{n}" for n in range(max(1, len(known) // 19))]  # about 5%
    return known + unknown


def wrk_script(token: str, users: list[str], folder: Path, delay_ms: float = 0.0) -> Path:
    """wrk's Lua: a user per request; with ``delay_ms``, each connection waits that long
    after every response (a client's think time) before its next request."""
    path = folder / f"recommendations-{delay_ms:.0f}.lua"
    quoted = ",".join(json.dumps(u) for u in users)
    pause = f"delay = function() return {delay_ms:.3f} end\n" if delay_ms > 0 else ""
    path.write_text(
        f"local users = {{{quoted}}}\n"
        "local n = 0\n"
        "request = function()\n"
        "  n = n + 1\n"
        "  local user = users[(n * 7919) % #users + 1]\n"
        '  local path = "/api/v1/recommendations?user_id=" .. user .. '
        '"&k=10&surface=home&device=web&session_depth=" .. (n % 5)\n'
        f'  return wrk.format("GET", path, {{["Authorization"] = "Token {token}"}})\n'
        "end\n" + pause
    )
    return path


def get_json(base: str, path: str, token: str) -> dict:
    request = urllib.request.Request(base + path, headers={"Authorization": f"Token {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def warm_up(base: str, token: str, users: list[str], timeout_seconds: float = 180) -> None:
    """Until the serving worker answers without fallback 5 times in a row."""
    deadline, streak, n = time.monotonic() + timeout_seconds, 0, 0
    while streak < 5:
        if time.monotonic() > deadline:
            raise RuntimeError("the serving worker did not answer in time (see its log)")
        n += 1
        body = get_json(base, f"/api/v1/recommendations?user_id={users[n % len(users)]}", token)
        streak = streak + 1 if not body["fallback"] else 0
        if body["fallback"]:
            time.sleep(0.2)


def counters(base: str, token: str) -> tuple[int, int]:
    """(requests, fallbacks) after both gunicorn processes flushed their counters."""
    time.sleep(1.2)
    for n in range(20):  # each process flushes on its next request after 1 s
        get_json(base, f"/api/v1/recommendations?user_id=flush-{n}", token)
    body = get_json(base, "/api/v1/recommendations/metrics", token)
    return body["requests"], body["fallbacks"]


def parse_wrk(output: str) -> dict[str, float]:
    def latency(label: str) -> float:
        match = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
        if match is None:
            raise RuntimeError(f"no {label}% latency in wrk output:\n{output}")
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[match.group(2)]
        return float(match.group(1)) * scale

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: (.*)", output)
    return {
        "rps": rps,
        "p50": latency("50"),
        "p99": latency("99"),
        "non_2xx": float(non_2xx.group(1)) if non_2xx else 0.0,
        "socket_errors": errors.group(1) if errors else "",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small catalogue, 5 s of load")
    parser.add_argument("--seconds", type=int, default=None, help="load duration (default 30)")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--algorithm",
        choices=("pipeline", "als"),
        default=None,
        help="variant to serve (default: pipeline when registered, else als)",
    )
    parser.add_argument("--pool", choices=("prefork", "solo", "threads"), default="prefork")
    parser.add_argument("--worker-concurrency", type=int, default=2)
    parser.add_argument(
        "--paced-fraction",
        type=float,
        default=0.5,
        help="then the same connections offering this fraction of the saturated req/s (0: skip)",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("serving_http: skipped (wrk is not installed)")
        return 0
    if not args.quick and not (support.ML1M / "ratings_ge4_complete.dat").is_file():
        print(f"serving_http: skipped (ML-1M not found at {support.ML1M})")
        return 0
    seconds = args.seconds or (3 if args.quick else 30)
    name = "splitlab_bench_serving_quick" if args.quick else "splitlab_bench_ml1m"
    bench = support.choose_environment(name, fresh=False)
    support.setup_django(bench)
    data_label = support.load_data(quick=args.quick)
    algorithm, params = choose_algorithm(args.quick, args.algorithm)
    version_id = prepare_config(algorithm, params)
    from accounts.services import create_api_client

    token, _ = create_api_client("bench-serving")
    users = user_ids()
    from django.db import connections

    connections.close_all()
    with (
        support.celery_worker(
            bench, "serving", concurrency=args.worker_concurrency, pool=args.pool
        ) as worker,
        support.gunicorn(bench, workers=2) as base,
        tempfile.TemporaryDirectory() as folder,
    ):
        warm_up(base, token, users)
        load = LoadRun(base, worker.pid, token, users, Path(folder), args.connections, seconds)
        saturated = load.run(delay_ms=0.0)
        paced = None
        if args.paced_fraction > 0:
            # the same connections, each pausing so that together they offer this fraction
            # of the saturated throughput: latency without the queueing of a saturated host
            delay_ms = 1000.0 * args.connections / (args.paced_fraction * saturated["rps"])
            paced = load.run(delay_ms=delay_ms)
    from recommenders.core.registry import MODEL_NAMES

    variant = algorithm
    if algorithm != "pipeline" and "pipeline" not in MODEL_NAMES:
        variant += " (two-tower pipeline not registered)"
    prefix = f"serving_http: {variant} v{version_id} on {data_label}, {bench.label}"
    print(f"{prefix}, {describe(saturated, args.connections, seconds)}")
    if paced is not None:
        print(
            f"{prefix}, paced at {args.paced_fraction:.0%} of that throughput "
            f"({paced['delay_ms']:.0f} ms pause after each response), "
            f"{describe(paced, args.connections, seconds)}"
        )
    return 0


class LoadRun:
    """One wrk run against the server, with the counters and CPU it cost."""

    def __init__(
        self,
        base: str,
        worker_pid: int,
        token: str,
        users: list[str],
        folder: Path,
        connections: int,
        seconds: int,
    ) -> None:
        self.base, self.worker_pid, self.token, self.users = base, worker_pid, token, users
        self.folder, self.connections, self.seconds = folder, connections, seconds

    def cpu(self) -> tuple[float, float]:
        pid = getattr(self.base, "pid", 0)
        return support.tree_cpu_seconds(pid), support.tree_cpu_seconds(self.worker_pid)

    def run(self, delay_ms: float) -> dict:
        before, cpu_before = counters(self.base, self.token), self.cpu()
        script = wrk_script(self.token, self.users, self.folder, delay_ms)
        command = [
            "wrk", "-t", "2", "-c", str(self.connections), "-d", f"{self.seconds}s",
            "--latency", "-s", str(script), self.base,
        ]  # fmt: skip
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        cpu_after, after = self.cpu(), counters(self.base, self.token)
        figures = parse_wrk(output)
        requests = max(1, after[0] - before[0])
        figures.update(
            delay_ms=delay_ms,
            fallback_rate=(after[1] - before[1]) / requests,
            web_cpu_ms=1000 * (cpu_after[0] - cpu_before[0]) / requests,
            worker_cpu_ms=1000 * (cpu_after[1] - cpu_before[1]) / requests,
        )
        return figures


def describe(figures: dict, connections: int, seconds: int) -> str:
    passed = (
        figures["p50"] <= TARGET_P50_MS
        and figures["p99"] <= TARGET_P99_MS
        and figures["fallback_rate"] < TARGET_FALLBACK
        and figures["non_2xx"] == 0
    )
    return (
        f"{connections} connections x {seconds} s: {figures['rps']:.0f} req/s, "
        f"p50 {figures['p50']:.1f} ms, p99 {figures['p99']:.1f} ms, fallback "
        f"{figures['fallback_rate']:.2%}, non-2xx {figures['non_2xx']:.0f}, CPU per request: "
        f"web {figures['web_cpu_ms']:.1f} ms, serving worker {figures['worker_cpu_ms']:.1f} ms "
        f"(targets p50 <= {TARGET_P50_MS:.0f} ms, p99 <= {TARGET_P99_MS:.0f} ms, "
        f"fallback < {TARGET_FALLBACK:.1%}) {support.verdict(passed)}"
    )


if __name__ == "__main__":
    sys.exit(main())
