"""Serving cost and latency of ``GET /api/v1/recommendations``, per algorithm (issue 20).

gunicorn (2 sync workers) and one Celery serving worker (prefork, 2 processes; ``--pool`` and
``--worker-concurrency`` to compare others) on PostgreSQL and Redis (or the embedded SQLite +
filesystem broker when they are not running), the ML-1M catalogue, for each of
``--algorithms`` (default: the two-tower ``pipeline``, ``als``, ``item_cf``). Requests cycle
through the catalogue's users, 5% of them unknown (answered by cold start). Per algorithm,
in the same run:

1. The reference path: gunicorn and the worker started with ``SPLITLAB_SERVING_PATH=task``
   (one Celery task per request, the code before micro-batching), saturated by wrk: 16
   connections, each sending its next request as soon as the answer arrives.
2. The default path, started anew:

   - the trivial authenticated endpoint ``GET /api/v1/ping`` saturated: the web process
     tree's CPU per request, the unit every CPU figure is also given in (machines differ about
     3x in speed; the ratios hold across them);
   - saturated like the reference: requests/s and its ratio to the reference, the fallback
     rate (the metrics endpoint's counters), and the CPU per request of the web and the worker
     process trees (their CPU seconds over the run / requests);
   - open loop (``_open_loop``: requests at a fixed rate, latency from each one's scheduled
     send time) at fractions of that saturated throughput: achieved rate, p50, p99, fallbacks
     (the answers' ``fallback`` field), non-2xx, and the generator's own CPU per request.
3. The model's own work: the CPU per request (``time.process_time``) of
   ``recommend_with_warm_model`` in this process, warm and single-threaded like a worker
   child, over requests of the same mix. Transport is web + worker minus that.

Closed loop, the 16 connections keep 16 requests in the system, so by Little's law their
latency is 16 / throughput whatever the server does (a p50 of 15 ms would need 16 / 0.015 =
1,000+ requests/s): the latency targets are set on the open-loop runs, at a stated load.

Prints a table per algorithm, then a summary line per algorithm and a PASS or MISS line per
target; writes the latency curves to a PNG under ``var/bench/`` (skipped, with a note,
without matplotlib, which the ``bench`` extra installs).

Each closed-loop step lasts ``--seconds`` (30; the ping a third of that), each open-loop load
``--open-seconds`` (20), at 20, 35, 50, 65, 80 and 95% of the saturated throughput.
``--quick``: a generated catalogue, ALS, 3 s per step, loads 50 and 80% only (a smoke run,
for tests). Needs ``wrk``.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import _serving_load as load  # noqa: E402
from benchmarks import _serving_report as report  # noqa: E402
from benchmarks import _serving_support as support  # noqa: E402

if TYPE_CHECKING:
    from recommenders.models import RecommenderConfig

CONFIG_PREFIX = "bench-serving"
ALGORITHMS = ("pipeline", "als", "item_cf")
PARAMS = {
    # Two epochs of the towers bound the training time on a shared 2-core machine; serving
    # cost does not depend on how long the towers were trained.
    "pipeline": {"two_tower": {"epochs": 2}},
    "als": {"factors": 64, "iterations": 15},
    "item_cf": {},
}
LOADS = (0.2, 0.35, 0.5, 0.65, 0.8, 0.95)  # open-loop offered loads, x saturated throughput
QUICK_LOADS = (0.5, 0.8)
MODEL_WORK_REQUESTS = 300


@dataclasses.dataclass(frozen=True)
class LoadPlan:
    """How long each load step lasts, and the open-loop loads (x saturated throughput)."""

    closed_loop_seconds: int
    ping_seconds: int
    open_loop_seconds: int  # each load
    loads: tuple[float, ...]

    @classmethod
    def for_run(cls, args: argparse.Namespace) -> LoadPlan:
        closed_loop = args.seconds or (3 if args.quick else 30)
        return cls(
            closed_loop_seconds=closed_loop,
            # the ping costs little CPU per request: a third of the time counts enough of them
            ping_seconds=max(2, closed_loop // 3),
            open_loop_seconds=args.open_seconds or (3 if args.quick else 20),
            loads=QUICK_LOADS if args.quick else LOADS,
        )


def params_for(algorithm: str, quick: bool) -> dict:
    """Training params; ``--quick`` trains ALS with its defaults (the faults' tests share
    the version)."""
    return {} if quick and algorithm == "als" else PARAMS[algorithm]


def use_config(algorithm: str, params: dict) -> RecommenderConfig:
    """The benchmark's config on ``algorithm``, made the default (the one served)."""
    from recommenders.models import RecommenderConfig

    name = f"{CONFIG_PREFIX}-{algorithm}"
    RecommenderConfig.objects.exclude(name=name).update(is_default=False)
    config, _ = RecommenderConfig.objects.update_or_create(
        name=name, defaults={"algorithm": algorithm, "params": params, "is_default": True}
    )
    return config


def prepare_config(algorithm: str, params: dict) -> int:
    """The default config on the algorithm, trained in process (once: an earlier run's
    version is reused while its params and artifacts are the same); returns its version."""
    from recommenders.models import ModelVersion
    from recommenders.services import training

    config = use_config(algorithm, params)
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


def request_mix(users: list[str]) -> list[tuple[str, int]]:
    """(user, session depth) of each request, in the order every load step sends them: the
    users in a stride that spreads the unknown ones, session depths 0 to 4."""
    return [(users[(n * 7919) % len(users)], n % 5) for n in range(len(users))]


def act_as_worker_child() -> None:
    """Thread counts (and warm-up hooks) of a serving worker child, in this process, so that
    the model work measured here is the work a worker child does."""
    from django.conf import settings

    from ops.worker import on_worker_process_start

    on_worker_process_start(int(settings.SPLITLAB_WORKER_THREADS))


def model_work_ms(config_id: int, mix: list[tuple[str, int]]) -> float:
    """CPU per request (ms) of the model's own work: ``recommend_with_warm_model`` in this
    process, warm, over the first requests of ``mix`` (after :func:`act_as_worker_child`)."""
    from recommenders.serving.model_cache import reset_cache
    from recommenders.serving.worker import recommend_with_warm_model

    def recommend(user: str, session_depth: int) -> None:
        context = {
            "request_id": uuid.uuid4().hex,
            "surface": "home",
            "device": "web",
            "session_depth": session_depth,
            "timestamp": time.time(),
        }
        answer = recommend_with_warm_model(config_id, user, 10, context)
        if answer["status"] != "ok":
            raise RuntimeError(f"model work: the model did not answer ({answer['status']})")

    requests = [mix[n % len(mix)] for n in range(MODEL_WORK_REQUESTS)]
    for request in requests[:20]:  # loads the model and warms its caches
        recommend(*request)
    cpu_before = time.process_time()
    for request in requests:
        recommend(*request)
    cpu_ms = 1000 * (time.process_time() - cpu_before) / len(requests)
    reset_cache()
    return cpu_ms


def measure_algorithm(
    algorithm: str,
    version_id: int,
    bench: support.BenchEnvironment,
    args: argparse.Namespace,
    token: str,
) -> report.ServingFigures:
    """The steps of the module docstring for the algorithm's config, made the default."""
    config = use_config(algorithm, params_for(algorithm, args.quick))
    plan = LoadPlan.for_run(args)
    users = user_ids()
    mix = request_mix(users)
    model_work = model_work_ms(config.pk, mix)
    servers = functools.partial(
        load.serving_stack,
        token=token,
        users=users,
        pool=args.pool,
        worker_concurrency=args.worker_concurrency,
        connections=args.connections,
    )
    with tempfile.TemporaryDirectory() as folder:
        script = load.wrk_script(token, mix, Path(folder))
        with servers(dataclasses.replace(bench, serving_path="task")) as stack:
            reference = stack.saturate(script, plan.closed_loop_seconds)
        with servers(bench) as stack:
            trivial = stack.ping(plan.ping_seconds)
            saturated = stack.saturate(script, plan.closed_loop_seconds)
            curve = [
                stack.open_loop(mix, fraction, saturated.rps, plan.open_loop_seconds)
                for fraction in plan.loads
            ]
    return report.ServingFigures(
        algorithm, version_id, trivial, reference, saturated, model_work, curve
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small catalogue, ALS, short steps")
    parser.add_argument(
        "--algorithms",
        type=lambda text: tuple(text.split(",")),
        default=None,
        help=f"comma-separated, of {','.join(ALGORITHMS)} (default: all; --quick: als)",
    )
    parser.add_argument("--seconds", type=int, default=None, help="closed-loop steps (30)")
    parser.add_argument("--open-seconds", type=int, default=None, help="each load point (20)")
    parser.add_argument("--connections", type=int, default=16, help="closed-loop connections")
    parser.add_argument("--pool", choices=("prefork", "solo", "threads"), default="prefork")
    parser.add_argument("--worker-concurrency", type=int, default=2)
    args = parser.parse_args()
    args.algorithms = args.algorithms or (("als",) if args.quick else ALGORITHMS)
    unknown = set(args.algorithms) - set(ALGORITHMS)
    if unknown:
        parser.error(f"--algorithms: {', '.join(sorted(unknown))} not among {ALGORITHMS}")
    return args


def main() -> int:
    args = parse_args()
    if shutil.which("wrk") is None:
        print("serving_http: skipped (wrk is not installed)")
        return 0
    if not args.quick and not (support.ML1M / "ratings_ge4_complete.dat").is_file():
        print(f"serving_http: skipped (ML-1M not found at {support.ML1M})")
        return 0
    name = "splitlab_bench_serving_quick" if args.quick else "splitlab_bench_ml1m"
    bench = support.choose_environment(name, fresh=False)
    support.setup_django(bench)
    data_label = support.load_data(quick=args.quick)
    from accounts.services import create_api_client

    token, _ = create_api_client("bench-serving")
    # all trained first: the model work below runs with a worker child's thread counts
    versions = {a: prepare_config(a, params_for(a, args.quick)) for a in args.algorithms}
    act_as_worker_child()
    setup = (
        f"{data_label}, {bench.label}, gunicorn 2 sync + serving worker "
        f"{args.pool} x{args.worker_concurrency}, {args.connections} closed-loop connections"
    )
    results = []
    for algorithm, version_id in versions.items():
        results.append(measure_algorithm(algorithm, version_id, bench, args, token))
        print("\n".join(report.describe(results[-1], setup)), flush=True)
    chart = report.CHART_FOLDER / f"serving_http_latency{'-quick' if args.quick else ''}.png"
    print(report.write_chart(results, chart))
    print("\n".join(report.verdicts(results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
