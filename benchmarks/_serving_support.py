"""Helpers of the serving and training benchmarks: a database and broker, data, processes.

PostgreSQL and Redis on 127.0.0.1 are used when they answer (the production path); otherwise
SQLite and the filesystem broker under ``var/bench-serving`` (the embedded default). The
full-size runs keep a PostgreSQL database with ML-1M loaded (``splitlab_bench_ml1m``) between
runs, so only the first run pays for loading it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from benchmarks._events_support import (
    PYTHON,
    REPO,
    free_port,
    production_env,
    stop_process,
    wait_for_healthz,
)

ML1M = Path(os.environ.get("SPLITLAB_ML1M_PATH", REPO.parent / "shared" / "data" / "ml-1m"))
POSTGRES_SERVER = os.environ.get("SPLITLAB_BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("SPLITLAB_BENCH_REDIS", "redis://127.0.0.1:6379/3")


@dataclass
class BenchEnvironment:
    database_url: str  # "" = SQLite under var_dir
    broker_url: str  # "" = filesystem broker under var_dir
    var_dir: Path
    worker_threads: str = "1"  # torch/BLAS threads per worker process
    serving_path: str = ""  # SPLITLAB_SERVING_PATH ("task", "batched"); "" = the default

    @property
    def label(self) -> str:
        database = "PostgreSQL" if self.database_url else "SQLite"
        broker = "Redis" if self.broker_url else "filesystem broker"
        return f"{database}+{broker}"

    def env(self) -> dict[str, str]:
        """Environment of every Django process of the benchmark (production settings)."""
        env = production_env()
        for name in (
            "DATABASE_URL",
            "CELERY_BROKER_URL",
            "CELERY_RESULT_BACKEND",
            "SPLITLAB_SERVING_PATH",
        ):
            env.pop(name, None)
        env.update(
            SPLITLAB_VAR_DIR=str(self.var_dir),
            SPLITLAB_ARTIFACT_ROOT=str(self.var_dir / "artifacts"),
            SPLITLAB_WORKER_THREADS=self.worker_threads,
        )
        if self.database_url:
            env["DATABASE_URL"] = self.database_url
        if self.broker_url:
            env["CELERY_BROKER_URL"] = self.broker_url
        if self.serving_path:
            env["SPLITLAB_SERVING_PATH"] = self.serving_path
        return env


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the benchmark process dies, even by SIGKILL,
    so no worker or server outlives an interrupted benchmark (Linux prctl)."""
    import ctypes
    import signal

    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def reachable(url: str) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname, parsed.port), timeout=1):
            return True
    except OSError:
        return False


def choose_environment(name: str, *, fresh: bool) -> BenchEnvironment:
    """PostgreSQL database ``name`` and Redis when they answer, else the embedded default.

    ``fresh``: drop the database (or the var folder) first; otherwise keep what an earlier
    run loaded.
    """
    var_dir = REPO / "var" / f"bench-{name}"
    if fresh and var_dir.exists():
        shutil.rmtree(var_dir)
    var_dir.mkdir(parents=True, exist_ok=True)
    database_url = ""
    if reachable(POSTGRES_SERVER + "/postgres"):
        import psycopg

        with psycopg.connect(POSTGRES_SERVER + "/postgres", autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
            if fresh and exists:
                conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
                exists = None
            if not exists:
                conn.execute(f'CREATE DATABASE "{name}"')
        database_url = f"{POSTGRES_SERVER}/{name}"
    # Stale serving requests of earlier runs expire on their own (deadline-based expiry);
    # the Redis database is never flushed, it may be shared.
    broker_url = REDIS_URL if reachable(REDIS_URL) else ""
    return BenchEnvironment(database_url, broker_url, var_dir)


def setup_django(bench: BenchEnvironment) -> None:
    """Configure Django in this process like the benchmark's servers, then migrate."""
    os.environ.update(bench.env())
    for name in ("DATABASE_URL", "CELERY_BROKER_URL", "SPLITLAB_SERVING_PATH"):
        if name not in bench.env():
            os.environ.pop(name, None)
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def load_data(*, quick: bool) -> str:
    """ML-1M (full size; loaded once per database) or a small generated catalogue."""
    from recommenders.models import Interaction

    if quick:
        if not Interaction.objects.exists():
            from recommenders.core.demo import generate_demo_dataset
            from recommenders.services.datasets import do_load_demo_dataset

            do_load_demo_dataset(generate_demo_dataset(n_users=400, n_items=300, seed=1))
        return "demo catalogue (400 users, 300 items)"
    if Interaction.objects.count() < 500_000:
        from django.core.management import call_command

        call_command("load_movielens", str(ML1M), verbosity=0)
    return f"ML-1M ({Interaction.objects.count():,} positives)"


@contextlib.contextmanager
def celery_worker(
    bench: BenchEnvironment, queues: str, concurrency: int = 1, pool: str = "prefork"
) -> Iterator[subprocess.Popen]:
    """A Celery worker subprocess, terminated (then killed) when the block ends."""
    log = (bench.var_dir / f"worker-{queues.replace(',', '-')}.log").open("w")
    command = [
        PYTHON, "-m", "celery", "-A", "config", "worker", "--queues", queues,
        "--concurrency", str(concurrency), "--pool", pool, "--loglevel", "WARNING",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]  # fmt: skip
    process = subprocess.Popen(
        command, cwd=REPO, env=bench.env(), stdout=log, stderr=log, preexec_fn=_die_with_parent
    )
    try:
        yield process
    finally:
        stop_process(process)
        log.close()


class GunicornUrl(str):
    """The server's base URL, carrying the master's ``pid``."""

    pid: int = 0


@contextlib.contextmanager
def gunicorn(bench: BenchEnvironment, workers: int = 2) -> Iterator[str]:
    """``gunicorn config.wsgi`` with sync workers on a free port; yields its base URL."""
    port = free_port()
    command = [
        str(Path(PYTHON).with_name("gunicorn")), "config.wsgi:application",
        "--workers", str(workers), "--worker-class", "sync", "--bind", f"127.0.0.1:{port}",
        "--timeout", "120", "--log-level", "warning", "--backlog", "2048",
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=REPO, env=bench.env(), preexec_fn=_die_with_parent)
    base = GunicornUrl(f"http://127.0.0.1:{port}")
    base.pid = process.pid
    try:
        wait_for_healthz(process, base, timeout_seconds=90, poll_seconds=0.3)
        yield base
    finally:
        stop_process(process)


def tree_cpu_seconds(root_pid: int) -> float:
    """User + system CPU seconds of a process and all its descendants (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        cpu[pid] = (int(fields[11]) + int(fields[12])) / ticks
    tree, frontier = {root_pid}, [root_pid]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        tree.update(children)
        frontier.extend(children)
    return sum(cpu.get(pid, 0.0) for pid in tree)


def verdict(passed: bool) -> str:
    return "PASS" if passed else "MISS"
