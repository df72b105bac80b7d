"""Real processes for the durability fault tests: a scratch PostgreSQL database, gunicorn,
a TCP proxy in front of PostgreSQL that the test closes and reopens, assignment and event
traffic that keeps a ledger of what the server acknowledged.

The machine's PostgreSQL is never stopped: the outage is the proxy's (its listening socket
and every connection through it are closed, so gunicorn's connections break and new ones are
refused).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))

from _events_support import (  # noqa: E402 - the benchmarks folder is not a package
    PYTHON,
    create_scratch_database,
    database_url,
    django_env,
    drop_database,
    free_port,
    wait_for_healthz,
)

__all__ = [
    "Ledger",
    "TcpProxy",
    "Traffic",
    "create_scratch_database",
    "drop_database",
    "load_experiments",
    "postgres_server_url",
    "running_gunicorn",
    "stored_exposures",
]

EXPERIMENTS = ("durable-a", "durable-b")


def postgres_server_url() -> str | None:
    """The PostgreSQL server of ``DATABASE_URL`` (its ``postgres`` database), when it is a
    PostgreSQL URL that answers; else None."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        return None
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname, parsed.port or 5432), timeout=2):
            pass
    except OSError:
        return None
    return database_url(url, "postgres")


def load_experiments(url: str) -> str:
    """Two running experiments and an active holdout in database ``url``; returns a token."""
    script = f"""
import django
django.setup()
from accounts.services import create_api_client
from experiments.services import do_create_experiment, do_create_holdout, do_start_experiment
do_create_holdout("durable-holdout", 0.05)
for key in {EXPERIMENTS!r}:
    experiment = do_create_experiment(
        key=key, name=key,
        variants=[{{"key": "control", "is_control": True}}, {{"key": "treatment"}}],
    )
    do_start_experiment(experiment, None)
print(create_api_client("durability")[0])
"""
    result = subprocess.run(
        [PYTHON, "-c", script],
        cwd=REPO,
        env=django_env(url),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return result.stdout.strip().splitlines()[-1]


class TcpProxy:
    """A TCP forwarder from a free 127.0.0.1 port to ``target`` that can be cut and
    restored: :meth:`close` drops the listener and every open connection."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self.lock = threading.Lock()
        self.pairs: list[tuple[socket.socket, socket.socket]] = []
        self.listener: socket.socket | None = None
        self.thread: threading.Thread | None = None
        self.open()

    def open(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.listener = listener
        self.thread = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        listener, self.listener = self.listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self.lock:
            pairs, self.pairs = self.pairs, []
        for pair in pairs:
            for sock in pair:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # closed
                return
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self.lock:
                if self.listener is not listener:  # closed meanwhile
                    client.close()
                    server.close()
                    return
                self.pairs.append((client, server))
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()

    @staticmethod
    def _pump(client: socket.socket, server: socket.socket) -> None:
        selector = selectors.DefaultSelector()
        peers = {client: server, server: client}
        try:
            selector.register(client, selectors.EVENT_READ)
            selector.register(server, selectors.EVENT_READ)
            while True:
                for key, _ in selector.select(timeout=1.0):
                    data = key.fileobj.recv(65536)
                    if not data:
                        return
                    peers[key.fileobj].sendall(data)
        except (OSError, ValueError):
            return
        finally:
            selector.close()
            for sock in (client, server):
                with contextlib.suppress(OSError):
                    sock.close()


@dataclass
class Gunicorn:
    process: subprocess.Popen
    base: str
    journal_dir: Path

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()]

    def stop(self, timeout_seconds: float = 30) -> int:
        """Graceful stop (SIGTERM: workers finish, flush at exit); returns the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout_seconds)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


@contextlib.contextmanager
def running_gunicorn(url: str, var_dir: Path, **settings: str) -> Iterator[Gunicorn]:
    """gunicorn with 2 sync workers on ``url`` (production settings, ``var_dir``, extra
    ``SPLITLAB_*`` settings); stopped gracefully at the end of the block if still running."""
    port = free_port()
    env = {**django_env(url), "SPLITLAB_VAR_DIR": str(var_dir), **settings}
    env["SPLITLAB_JOURNAL_DIR"] = str(var_dir / "journal")
    log = open(var_dir / "gunicorn.log", "w")  # noqa: SIM115 - closed below
    command = [
        str(Path(PYTHON).with_name("gunicorn")),
        "config.wsgi:application",
        "--workers=2",
        "--worker-class=sync",
        f"--bind=127.0.0.1:{port}",
        "--timeout=60",
        "--graceful-timeout=20",
        "--log-level=warning",
    ]
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    server = Gunicorn(process, f"http://127.0.0.1:{port}", var_dir / "journal")
    try:
        wait_for_healthz(process, server.base, 60)
        yield server
    finally:
        server.stop()
        log.close()


@dataclass
class Ledger:
    """What the server acknowledged: per user answered 200, the experiments it said the
    user was assigned to; answers by status for assignments and for events."""

    assigned: dict[str, set[str]] = field(default_factory=dict)
    assignment_status: dict[int | str, int] = field(default_factory=dict)
    event_status: dict[int | str, int] = field(default_factory=dict)
    retry_after: set[str] = field(default_factory=set)
    events: dict[str, int | str] = field(default_factory=dict)  # event id -> last answer
    served: set[str] = field(default_factory=set)  # request ids of lists answered 200
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, table: dict, status: int | str) -> None:
        with self.lock:
            table[status] = table.get(status, 0) + 1


class Traffic:
    """Threads posting assignments (a new user each) and, optionally, event batches, until
    stopped; the ledger records every answer."""

    def __init__(
        self,
        base: str,
        token: str,
        *,
        threads: int = 3,
        events: bool = False,
        recommendations: bool = False,
    ) -> None:
        parsed = urlparse(base)
        self.address = (parsed.hostname, parsed.port)
        self.headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
        self.ledger = Ledger()
        self.stopping = threading.Event()
        self.run = uuid.uuid4().hex[:8]
        workers = [self._assignments] * threads + ([self._events] if events else [])
        workers += [self._recommendations] if recommendations else []
        self.threads = [
            threading.Thread(target=target, args=(n,), daemon=True)
            for n, target in enumerate(workers)
        ]

    def __enter__(self) -> Traffic:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=30)

    def snapshot(self) -> tuple[dict, dict]:
        with self.ledger.lock:
            return dict(self.ledger.assignment_status), dict(self.ledger.event_status)

    def _post(self, path: str, body: object, method: str = "POST") -> tuple[int | str, dict, dict]:
        connection = http.client.HTTPConnection(*self.address, timeout=10)
        try:
            payload = None if body is None else json.dumps(body)
            connection.request(method, path, payload, self.headers)
            response = connection.getresponse()
            data = response.read()
            payload = json.loads(data) if data else {}
            return response.status, payload, dict(response.getheaders())
        except (OSError, http.client.HTTPException, ValueError) as exc:
            return type(exc).__name__, {}, {}
        finally:
            connection.close()

    def _assignments(self, thread: int) -> None:
        n = 0
        while not self.stopping.is_set():
            n += 1
            user = f"{self.run}-{thread}-{n}"
            status, payload, _ = self._post("/api/v1/assignments", {"user_id": user})
            self.ledger.count(self.ledger.assignment_status, status)
            if status == 200:
                answers = payload["assignments"]
                keys = {a["experiment"] for a in answers if a["reason"] == "assigned"}
                with self.ledger.lock:
                    self.ledger.assigned[user] = keys

    def _recommendations(self, thread: int) -> None:
        n = 0
        while not self.stopping.is_set():
            n += 1
            path = f"/api/v1/recommendations?user_id={self.run}-r-{n}&surface=home&k=3"
            status, payload, _ = self._post(path, None, "GET")
            if status == 200:
                with self.ledger.lock:
                    self.ledger.served.add(payload["request_id"])

    def resend_unacknowledged_events(self) -> dict[int | str, int]:
        """What a client does with a 503: send the same events again (idempotent by id);
        returns the new answers by status."""
        answers: dict[int | str, int] = {}
        for event_id, status in sorted(self.ledger.events.items()):
            if status != 200:
                status, _, _ = self._post("/api/v1/events", [self._event(event_id)])
                self.ledger.events[event_id] = status
                answers[status] = answers.get(status, 0) + 1
        return answers

    def _event(self, event_id: str) -> dict:
        return {
            "event_id": event_id,
            "type": "session_start",
            "user_id": f"{self.run}-0-1",
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "session_id": event_id,
        }

    def _events(self, thread: int) -> None:
        n = 0
        while not self.stopping.is_set():
            n += 1
            event = self._event(f"{self.run}-event-{n}")
            status, _, headers = self._post("/api/v1/events", [event])
            self.ledger.count(self.ledger.event_status, status)
            with self.ledger.lock:
                self.ledger.events[event["event_id"]] = status
            if status == 503 and headers.get("Retry-After"):
                with self.ledger.lock:
                    self.ledger.retry_after.add(headers["Retry-After"])
            time.sleep(0.05)


def stored_exposures(url: str, users: list[str]) -> tuple[dict[str, list[str]], dict[str, int]]:
    """(experiment keys stored per user, holdout rows per user) read straight from ``url``."""
    import psycopg

    experiments: dict[str, list[str]] = {}
    holdouts: dict[str, int] = {}
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT x.user_id, e.key FROM assignment_exposure x "
            "JOIN experiments_experiment e ON e.id = x.experiment_id WHERE x.user_id = ANY(%s)",
            [users],
        ).fetchall()
        for user, key in rows:
            experiments.setdefault(user, []).append(key)
        rows = conn.execute(
            "SELECT user_id, COUNT(*) FROM assignment_holdoutexposure "
            "WHERE user_id = ANY(%s) GROUP BY user_id",
            [users],
        ).fetchall()
        holdouts = {user: int(count) for user, count in rows}
    return experiments, holdouts


def stored_served_lists(url: str, request_ids: list[str]) -> dict[str, int]:
    """Rows per request id among ``request_ids`` in ``analytics_servedlist``."""
    import psycopg

    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT request_id, COUNT(*) FROM analytics_servedlist WHERE request_id = ANY(%s) "
            "GROUP BY request_id",
            [request_ids],
        ).fetchall()
    return {request_id: int(count) for request_id, count in rows}


def journal_segments(folder: Path) -> list[Path]:
    """Segments left in a journal folder (after a graceful stop: none)."""
    return sorted(folder.glob("*/*.log")) if folder.is_dir() else []


def events_stored(url: str, run: str) -> dict[str, int]:
    """Rows per event id of this run's events, read straight from ``url``."""
    import psycopg

    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT event_id, COUNT(*) FROM analytics_event WHERE event_id LIKE %s "
            "GROUP BY event_id",
            [f"{run}-event-%"],
        ).fetchall()
    return {event_id: int(count) for event_id, count in rows}


def kill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
