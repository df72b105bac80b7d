"""The figures of ``serving_http.py``, issue 20's targets on them, the tables and the chart.

Every CPU figure is also given as a ratio to the trivial authenticated endpoint's CPU per
request measured in the same run ("x trivial"), so that the targets hold on machines of
different speed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from benchmarks._events_support import REPO
from benchmarks._open_loop import OpenLoopResult
from benchmarks._serving_support import verdict

CHART_FOLDER = REPO / "var" / "bench"

# issue 20, for every algorithm
MAX_CPU_MS = 4.0  # web + worker, per request
MAX_CPU_X_TRIVIAL = 8.0
MAX_TRANSPORT_X_TRIVIAL = 1.5
MIN_RPS = 480.0  # saturated
MIN_RPS_X_REFERENCE = 2.0
MAX_FALLBACK_RATE = 0.001  # saturated, strictly below
HALF_LOAD, HIGH_LOAD = 0.5, 0.8  # open-loop loads with targets, x saturated throughput
MAX_P50_MS_AT_HALF, MAX_P99_MS_AT_HALF, MAX_P99_MS_AT_HIGH = 15.0, 50.0, 100.0


@dataclass(frozen=True)
class ClosedLoopRun:
    """One wrk run: throughput, latency, and CPU per request of the web and worker trees;
    ``fallback_rate`` from the metrics endpoint (recommendations only)."""

    rps: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    web_cpu_ms: float
    worker_cpu_ms: float
    fallback_rate: float | None = None


@dataclass(frozen=True)
class LoadPoint:
    """An open-loop run at ``fraction`` of the saturated throughput."""

    fraction: float
    result: OpenLoopResult


@dataclass(frozen=True)
class ServingFigures:
    """Everything measured for one algorithm."""

    algorithm: str
    version_id: int
    trivial: ClosedLoopRun  # GET /api/v1/ping
    reference: ClosedLoopRun  # SPLITLAB_SERVING_PATH=task
    saturated: ClosedLoopRun
    model_work_ms: float
    curve: list[LoadPoint]

    @property
    def cpu_ms(self) -> float:
        """Web plus worker CPU per request."""
        return self.saturated.web_cpu_ms + self.saturated.worker_cpu_ms

    @property
    def transport_ms(self) -> float:
        """CPU per request of everything but the model's own work."""
        return self.cpu_ms - self.model_work_ms

    @property
    def rps_x_reference(self) -> float:
        return self.saturated.rps / self.reference.rps

    def x_trivial(self, cpu_ms: float) -> float:
        return cpu_ms / self.trivial.web_cpu_ms

    def at_load(self, fraction: float) -> OpenLoopResult | None:
        return next((p.result for p in self.curve if abs(p.fraction - fraction) < 1e-9), None)


def describe(figures: ServingFigures, setup: str) -> list[str]:
    """The lines printed when an algorithm's runs are done."""
    f, s = figures, figures.saturated
    cpu = ", ".join(
        f"{label} {ms:.2f} ({f.x_trivial(ms):.1f}x)"
        for label, ms in (
            ("web", s.web_cpu_ms),
            ("worker", s.worker_cpu_ms),
            ("web+worker", f.cpu_ms),
            ("model work", f.model_work_ms),
            ("transport", f.transport_ms),
        )
    )
    return [
        f"serving_http: {f.algorithm} v{f.version_id} on {setup}",
        f"  trivial endpoint GET /api/v1/ping, saturated: {f.trivial.rps:.0f} req/s, "
        f"web CPU {f.trivial.web_cpu_ms:.3f} ms per request (1x)",
        f"  reference path (SPLITLAB_SERVING_PATH=task), saturated: {_closed(f.reference)}",
        f"  default path, saturated: {_closed(s)}, {f.rps_x_reference:.2f}x the reference",
        f"  CPU per request, ms (x trivial): {cpu}",
        "  open loop (fixed arrival rate; latency from the scheduled send):",
        *_curve_table(f.curve),
    ]


def _closed(run: ClosedLoopRun) -> str:
    return (
        f"{run.rps:.0f} req/s, p50 {run.p50_ms:.1f} ms, p99 {run.p99_ms:.1f} ms, "
        f"fallback {run.fallback_rate:.2%}, non-2xx {run.non_2xx}, CPU per request "
        f"web {run.web_cpu_ms:.2f} ms + worker {run.worker_cpu_ms:.2f} ms"
    )


def _curve_table(curve: list[LoadPoint]) -> list[str]:
    lines = [
        "    offered load       achieved   p50 ms   p99 ms  fallback  non-2xx  errors  "
        "conns  generator CPU"
    ]
    for point in curve:
        r = point.result
        lines.append(
            f"    {point.fraction:4.0%} {r.offered_rate:6.0f} req/s {r.achieved_rate:6.0f} req/s "
            f"{r.percentile_ms(50):8.1f} {r.percentile_ms(99):8.1f} {r.flagged_rate:8.2%} "
            f"{r.non_2xx:8d} {r.errors:7d} {r.connections:6d}  "
            f"{r.cpu_ms_per_request:.2f} ms/request"
        )
    return lines


def summary(figures: ServingFigures) -> str:
    """One line: what serving this algorithm costs."""
    f = figures
    half, high = f.at_load(HALF_LOAD), f.at_load(HIGH_LOAD)
    latency = ""
    if half is not None and high is not None:
        latency = (
            f", open loop p50/p99 {half.percentile_ms(50):.1f}/{half.percentile_ms(99):.1f} ms "
            f"at 50%, p99 {high.percentile_ms(99):.1f} ms at 80%"
        )
    return (
        f"serving_http: {f.algorithm}: {f.saturated.rps:.0f} req/s saturated "
        f"({f.rps_x_reference:.2f}x the task path), CPU per request web+worker {f.cpu_ms:.2f} ms "
        f"= {f.x_trivial(f.cpu_ms):.1f}x trivial (model work {f.model_work_ms:.2f} ms, "
        f"transport {f.x_trivial(f.transport_ms):.1f}x), fallback "
        f"{f.saturated.fallback_rate:.2%}{latency}"
    )


def checks(figures: ServingFigures) -> list[tuple[str, bool]]:
    """(what was measured against which target, whether it was met), one per target."""
    f, s = figures, figures.saturated
    return [
        (
            f"web+worker CPU per request {f.cpu_ms:.2f} ms (target <= {MAX_CPU_MS} ms)",
            f.cpu_ms <= MAX_CPU_MS,
        ),
        (
            f"web+worker CPU per request {f.x_trivial(f.cpu_ms):.1f}x trivial "
            f"(target <= {MAX_CPU_X_TRIVIAL:.0f}x)",
            f.x_trivial(f.cpu_ms) <= MAX_CPU_X_TRIVIAL,
        ),
        (
            f"transport CPU per request {f.x_trivial(f.transport_ms):.1f}x trivial "
            f"(target <= {MAX_TRANSPORT_X_TRIVIAL}x)",
            f.x_trivial(f.transport_ms) <= MAX_TRANSPORT_X_TRIVIAL,
        ),
        (
            f"saturated throughput {s.rps:.0f} req/s (target >= {MIN_RPS:.0f})",
            s.rps >= MIN_RPS,
        ),
        (
            f"saturated throughput {f.rps_x_reference:.2f}x the task path "
            f"(target >= {MIN_RPS_X_REFERENCE:.0f}x)",
            f.rps_x_reference >= MIN_RPS_X_REFERENCE,
        ),
        (
            f"saturated fallback {s.fallback_rate:.2%}, non-2xx {s.non_2xx} "
            f"(target < {MAX_FALLBACK_RATE:.1%}, 0)",
            s.fallback_rate < MAX_FALLBACK_RATE and s.non_2xx == 0,
        ),
        _half_load_check(f.at_load(HALF_LOAD)),
        _high_load_check(f.at_load(HIGH_LOAD)),
    ]


def _half_load_check(result: OpenLoopResult | None) -> tuple[str, bool]:
    targets = (
        f"targets p50 <= {MAX_P50_MS_AT_HALF:.0f} ms, p99 <= {MAX_P99_MS_AT_HALF:.0f} ms, "
        "0 fallbacks, 0 non-2xx, 0 errors"
    )
    if result is None:
        return f"open loop at {HALF_LOAD:.0%}: not run ({targets})", False
    p50, p99 = result.percentile_ms(50), result.percentile_ms(99)
    failures = result.flagged + result.non_2xx + result.errors
    return (
        f"open loop at {HALF_LOAD:.0%} ({result.offered_rate:.0f} req/s): p50 {p50:.1f} ms, "
        f"p99 {p99:.1f} ms, {result.flagged} fallbacks, {result.non_2xx} non-2xx, "
        f"{result.errors} errors ({targets})",
        p50 <= MAX_P50_MS_AT_HALF and p99 <= MAX_P99_MS_AT_HALF and failures == 0,
    )


def _high_load_check(result: OpenLoopResult | None) -> tuple[str, bool]:
    target = f"target p99 <= {MAX_P99_MS_AT_HIGH:.0f} ms"
    if result is None:
        return f"open loop at {HIGH_LOAD:.0%}: not run ({target})", False
    p99 = result.percentile_ms(99)
    return (
        f"open loop at {HIGH_LOAD:.0%} ({result.offered_rate:.0f} req/s): p99 {p99:.1f} ms "
        f"({target})",
        p99 <= MAX_P99_MS_AT_HIGH,
    )


def verdicts(results: list[ServingFigures]) -> list[str]:
    """A summary line per algorithm, then a PASS or MISS line per algorithm and target."""
    lines = [summary(figures) for figures in results]
    for figures in results:
        lines += [
            f"serving_http: {figures.algorithm} {text} {verdict(passed)}"
            for text, passed in checks(figures)
        ]
    return lines


def write_chart(results: list[ServingFigures], path: Path) -> str:
    """p50 and p99 against offered load, a line pair per algorithm, as a PNG at ``path``;
    returns the line to print (a note when matplotlib, of the ``bench`` extra, is missing)."""
    try:
        import matplotlib
    except ImportError:
        return "serving_http: chart skipped (matplotlib is not installed: pip install -e .[bench])"
    matplotlib.use("Agg")  # files only, no display
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(8, 5))
    for number, figures in enumerate(results):
        offered = [p.result.offered_rate for p in figures.curve]
        for q, style in ((50, "-"), (99, "--")):
            latency = [p.result.percentile_ms(q) for p in figures.curve]
            label = f"{figures.algorithm} p{q}"
            axes.plot(offered, latency, style, color=f"C{number}", marker="o", label=label)
    axes.set(
        xlabel="offered load (requests/s, open loop)",
        ylabel="latency from scheduled send (ms)",
        yscale="log",
        title="GET /api/v1/recommendations, latency against offered load",
    )
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120, bbox_inches="tight")
    pyplot.close(figure)
    return f"serving_http: chart {path}"
