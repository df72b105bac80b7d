"""Load on a running gunicorn and serving worker: wrk's closed loop, the open-loop generator,
the metrics endpoint's counters, and the CPU each step cost the web and the worker process
trees (their CPU seconds over the step / its requests)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from benchmarks import _serving_report as report
from benchmarks import _serving_support as support
from benchmarks._open_loop import get_request, run_open_loop

FALLBACK_FIELD = re.compile(rb'"fallback":\s*true')


def recommendation_path(user: str, session_depth: int) -> str:
    return (
        f"/api/v1/recommendations?user_id={user}&k=10&surface=home&device=web"
        f"&session_depth={session_depth}"
    )


def wrk_script(token: str, mix: list[tuple[str, int]], folder: Path) -> Path:
    """wrk's Lua: the requests of ``mix`` in turn, one per request."""
    path = folder / "recommendations.lua"
    quoted = ",".join(json.dumps(recommendation_path(*request)) for request in mix)
    path.write_text(
        f"local paths = {{{quoted}}}\n"
        "local n = 0\n"
        "request = function()\n"
        "  n = n + 1\n"
        f'  return wrk.format("GET", paths[n % #paths + 1], '
        f'{{["Authorization"] = "Token {token}"}})\n'
        "end\n"
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

    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "requests": int(re.search(r"(\d+) requests in", output).group(1)),
        "p50": latency("50"),
        "p99": latency("99"),
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
    }


class ServingStack:
    """A running gunicorn and serving worker, and the load steps run against them, each with
    the CPU it cost the web and the worker process trees."""

    def __init__(self, base: str, worker_pid: int, token: str, connections: int) -> None:
        self.base, self.worker_pid, self.token = base, worker_pid, token
        self.connections = connections

    @property
    def port(self) -> int:
        return int(self.base.rsplit(":", 1)[1])

    def cpu_seconds(self) -> tuple[float, float]:
        """CPU seconds so far of the web and the worker process trees."""
        web_pid = getattr(self.base, "pid", 0)
        return support.tree_cpu_seconds(web_pid), support.tree_cpu_seconds(self.worker_pid)

    def ping(self, seconds: int) -> report.ClosedLoopRun:
        """``GET /api/v1/ping`` saturated (wrk)."""
        auth = ["-H", f"Authorization: Token {self.token}"]
        return self.closed_loop([*auth, self.base + "/api/v1/ping"], seconds)

    def saturate(self, script: Path, seconds: int) -> report.ClosedLoopRun:
        """The recommendations of ``script`` saturated (wrk), with the fallback rate that the
        metrics endpoint's counters give."""
        before = counters(self.base, self.token)
        run = self.closed_loop(["-s", str(script), self.base], seconds)
        after = counters(self.base, self.token)
        fallback_rate = (after[1] - before[1]) / max(1, after[0] - before[0])
        return dataclasses.replace(run, fallback_rate=fallback_rate)

    def closed_loop(self, target: list[str], seconds: int) -> report.ClosedLoopRun:
        """wrk's connections on ``target``, each sending as soon as its answer arrives."""
        cpu_before = self.cpu_seconds()
        command = [
            "wrk", "-t", "2", "-c", str(self.connections), "-d", f"{seconds}s", "--latency",
            *target,
        ]  # fmt: skip
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        cpu_after = self.cpu_seconds()
        wrk = parse_wrk(output)
        requests = max(1, wrk["requests"])
        return report.ClosedLoopRun(
            rps=wrk["rps"],
            p50_ms=wrk["p50"],
            p99_ms=wrk["p99"],
            non_2xx=wrk["non_2xx"],
            web_cpu_ms=1000 * (cpu_after[0] - cpu_before[0]) / requests,
            worker_cpu_ms=1000 * (cpu_after[1] - cpu_before[1]) / requests,
        )

    def open_loop(
        self, mix: list[tuple[str, int]], fraction: float, saturated_rps: float, seconds: int
    ) -> report.LoadPoint:
        """The requests of ``mix`` at ``fraction`` of the saturated throughput."""
        headers = {"Authorization": f"Token {self.token}"}
        requests = [get_request(recommendation_path(*r), self.port, headers) for r in mix]
        result = run_open_loop(
            self.port, requests, fraction * saturated_rps, seconds, flag=FALLBACK_FIELD
        )
        return report.LoadPoint(fraction, result)


@contextlib.contextmanager
def serving_stack(
    bench: support.BenchEnvironment,
    token: str,
    users: list[str],
    *,
    pool: str,
    worker_concurrency: int,
    connections: int,
) -> Iterator[ServingStack]:
    """gunicorn (2 sync workers) and a serving worker, warm, for the duration of the block;
    ``connections``: of the closed-loop steps."""
    from django import db

    db.connections.close_all()  # this process holds no idle connection through the load
    with (
        support.celery_worker(
            bench, "serving", concurrency=worker_concurrency, pool=pool
        ) as worker,
        support.gunicorn(bench, workers=2) as base,
    ):
        warm_up(base, token, users)
        yield ServingStack(base, worker.pid, token, connections)
