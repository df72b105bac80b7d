"""Launching a fault scenario's processes: its own Redis, a prepared database, real Celery
workers and gunicorn (``benchmarks/_serving_support``), and a small HTTP client.

Every process started here dies with the test process (``PR_SET_PDEATHSIG``) and is stopped
when its block ends; the machine's own PostgreSQL and Redis are never stopped: each scenario
starts a Redis of its own on a port in 6390-6399 and a scratch PostgreSQL database.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from benchmarks import _serving_support as support
from benchmarks._events_support import PYTHON, REPO

REDIS_PORTS = range(6390, 6400)
POSTGRES_SERVER = os.environ.get("SPLITLAB_FAULTS_POSTGRES", "postgres://postgres@127.0.0.1:5432")


def redis_server_binary() -> str | None:
    return shutil.which("redis-server")


def postgres_reachable() -> bool:
    return support.reachable(POSTGRES_SERVER + "/postgres")


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def wait_until(condition: Callable[[], object], seconds: float, step: float = 0.1) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return bool(condition())


class RedisServer:
    """A ``redis-server`` of the test's own, which the test may stop and start again."""

    def __init__(self, folder: Path, *, appendonly: bool = False) -> None:
        self.folder = folder
        self.appendonly = appendonly
        self.port = next((p for p in REDIS_PORTS if _port_free(p)), None)
        if self.port is None:
            raise RuntimeError("no free port in 6390-6399 for the scenario's Redis")
        self.process: subprocess.Popen | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        command = [
            str(redis_server_binary()), "--port", str(self.port), "--bind", "127.0.0.1",
            "--dir", str(self.folder), "--save", "",
            "--appendonly", "yes" if self.appendonly else "no", "--appendfsync", "always",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, preexec_fn=support._die_with_parent
        )
        if not wait_until(lambda: not _port_free(self.port), 10, 0.05):
            raise RuntimeError(f"redis-server did not listen on {self.port}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None


@contextlib.contextmanager
def redis_server(folder: Path, *, appendonly: bool = False) -> Iterator[RedisServer]:
    server = RedisServer(folder, appendonly=appendonly)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Prepared:
    """A migrated database with a catalogue, an active model, an experiment and a token."""

    database_url: str  # "": SQLite under var_dir
    var_dir: Path
    token: str
    users: list[str]
    version_id: int
    experiment: str

    def environment(self, broker_url: str = "") -> support.BenchEnvironment:
        return support.BenchEnvironment(self.database_url, broker_url, self.var_dir)


def scratch_database(name: str) -> str:
    """A fresh PostgreSQL database ``name`` on the server (dropped first); its URL."""
    import psycopg

    with psycopg.connect(POSTGRES_SERVER + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{POSTGRES_SERVER}/{name}"


def drop_database(url: str) -> None:
    import psycopg

    name = urlparse(url).path.lstrip("/")
    with psycopg.connect(POSTGRES_SERVER + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def prepare(database_url: str, var_dir: Path) -> Prepared:
    """Run ``tests/faults/_prepare.py`` in a process of its own (production settings)."""
    var_dir.mkdir(parents=True, exist_ok=True)
    env = support.BenchEnvironment(database_url, "", var_dir).env()
    result = subprocess.run(
        [PYTHON, "-m", "tests.faults._prepare", database_url, str(var_dir)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0:
        raise RuntimeError(f"preparing the scenario failed:\n{result.stderr[-4000:]}")
    data = json.loads(result.stdout.strip().splitlines()[-1])
    return Prepared(database_url, var_dir, **data)


def child_pids(pid: int) -> list[int]:
    """The direct children of ``pid`` (Linux /proc)."""
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                children.append(int(entry.name))
    return sorted(children)


def kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


@dataclass
class Client:
    """JSON over HTTP with the scenario's token; never raises on an HTTP status."""

    base: str
    token: str
    timeout_seconds: float = 10.0

    def request(self, method: str, path: str, body: object = None) -> tuple[int, dict]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.base + path,
            data=data,
            method=method,
            headers={"Authorization": f"Token {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            raw = error.read()
            try:
                return error.code, json.loads(raw or b"{}")
            except ValueError:
                return error.code, {"raw": raw.decode(errors="replace")[:500]}

    def recommend(self, user: str) -> tuple[int, dict]:
        return self.request("GET", f"/api/v1/recommendations?user_id={user}&k=10&surface=home")

    def assign(self, user: str) -> tuple[int, dict]:
        return self.request("POST", "/api/v1/assignments", {"user_id": user})

    def health(self) -> tuple[int, dict]:
        return self.request("GET", "/healthz")


def worker(env: support.BenchEnvironment, queues: str, concurrency: int = 1):
    """A Celery worker of the scenario (prefork; its log under the var folder)."""
    return support.celery_worker(env, queues, concurrency=concurrency)


def gunicorn(env: support.BenchEnvironment, workers: int = 2):
    return support.gunicorn(env, workers=workers)


def serving_answers(client: Client, users: list[str], seconds: float = 120) -> bool:
    """Wait until 5 recommendations in a row come from a serving worker (no fallback)."""
    streak, n = 0, 0
    deadline = time.monotonic() + seconds
    while streak < 5 and time.monotonic() < deadline:
        status, body = client.recommend(users[n % len(users)])
        n += 1
        streak = streak + 1 if status == 200 and not body.get("fallback") else 0
        if streak == 0:
            time.sleep(0.2)
    return streak >= 5


@contextlib.contextmanager
def killing_worker(
    env: support.BenchEnvironment, queues: str, kill_tasks: list[str], kill_dir: Path
) -> Iterator[subprocess.Popen]:
    """A prefork worker (two children) of ``tests.faults.killing_worker``: each task named in
    ``kill_tasks`` is SIGKILLed once, in the middle of its first run. The surviving child takes
    the requeued task at once while the pool forks and warms a replacement."""
    kill_dir.mkdir(parents=True, exist_ok=True)
    process_env = {
        **env.env(),
        "SPLITLAB_FAULTS_KILL_TASKS": ",".join(kill_tasks),
        "SPLITLAB_FAULTS_KILL_DIR": str(kill_dir),
    }
    log = (env.var_dir / f"killing-worker-{queues.replace(',', '-')}.log").open("w")
    command = [
        PYTHON, "-m", "celery", "-A", "tests.faults.killing_worker", "worker",
        "--queues", queues, "--concurrency", "2", "--pool", "prefork", "--loglevel", "INFO",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]  # fmt: skip
    process = subprocess.Popen(
        command,
        cwd=REPO,
        env=process_env,
        stdout=log,
        stderr=log,
        preexec_fn=support._die_with_parent,
    )
    try:
        yield process
    finally:
        support.stop_process(process)
        log.close()


def version_state(database_url: str, version_id: int) -> dict:
    """A model version's row, read straight from the scenario's PostgreSQL database."""
    import psycopg
    from psycopg.rows import dict_row

    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        return conn.execute(
            "SELECT id, status, stage, artifact_path, error FROM recommenders_modelversion "
            "WHERE id = %s",
            [version_id],
        ).fetchone()


class DelayProxy:
    """A TCP proxy on 127.0.0.1 that delays every chunk from the server by ``delay_seconds``
    (a slow network to the database: each query's round trip costs that much more)."""

    def __init__(self, target_port: int, delay_seconds: float) -> None:
        self.target_port = target_port
        self.delay_seconds = delay_seconds
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._stopped = False

    def __enter__(self) -> DelayProxy:
        import threading

        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stopped = True
        self.listener.close()

    def _accept(self) -> None:
        import threading

        while not self._stopped:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self._pipe, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, True), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, delayed: bool) -> None:
        try:
            while chunk := source.recv(65536):
                if delayed and self.delay_seconds:
                    time.sleep(self.delay_seconds)
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
