"""``make run``: prepare the database, then run and supervise the worker, beat and gunicorn.

Steps: check that the database and the broker answer (one line naming the variable if not),
migrate, create the admin user, load demo data (or MovieLens from ``SPLITLAB_DATA``), set up
the demo (trained configurations, a running experiment, an API token: ``setup_demo``), then
start three children, each in its own process group: the Celery worker (all queues), Celery
beat, and gunicorn with two sync workers on http://127.0.0.1:8000.

Supervision: a child that exits is restarted, after a back-off that doubles with each quick
death (1 s up to 30 s; a child that ran a minute starts again at 1 s), and its whole process
group is killed first, so that no orphan (a pool child, a gunicorn worker) outlives it; the
others keep running. Ctrl-C or SIGTERM stops every child (SIGTERM, then SIGKILL to its whole
group after 20 s).
Beat runs alone, so killing the worker never leaves a second beat behind; a rollup still
takes a lock (``analytics.services.rollup_lock``), so two never run at once.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

BIN = Path(sys.executable).parent
HOST = os.environ.get("SPLITLAB_HOST", "127.0.0.1")
PORT = os.environ.get("SPLITLAB_PORT", "8000")
# Simulated users on the demo experiment while `make run` runs (SPLITLAB_DEMO_TRAFFIC=0: none).
DEMO_TRAFFIC = os.environ.get("SPLITLAB_DEMO_TRAFFIC", "1").strip().lower() not in ("0", "false")
FIRST_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 30.0
STABLE_SECONDS = 60.0  # a child that ran this long restarts after the first back-off again
STOP_TIMEOUT_SECONDS = 20.0


def preflight() -> None:
    """Exit with one line naming the variable when the database or broker is unreachable."""
    from ops.health import check_broker, check_database

    error = check_database()
    if error:
        sys.exit(f"Configuration error: DATABASE_URL: database unreachable ({error})")
    error = check_broker()
    if error:
        sys.exit(f"Configuration error: CELERY_BROKER_URL: broker unreachable ({error})")


def prepare() -> None:
    from django.core.management import call_command, get_commands

    call_command("migrate", interactive=False, verbosity=0)
    print("Database migrated.")
    call_command("ensure_admin")
    data_path = os.environ.get("SPLITLAB_DATA", "").strip()
    commands = get_commands()
    if data_path and "load_movielens" in commands:
        print(f"Loading MovieLens from {data_path} ...")
        call_command("load_movielens", data_path)
    elif "load_demo_data" in commands:
        call_command("load_demo_data")
    call_command("setup_demo", base_url=f"http://{HOST}:{PORT}")
    if DEMO_TRAFFIC:
        # The simulator's own key, serve and analyze only, expiring in a day: a key per run
        # (through the command: ops names the apps' features, it never imports them).
        out = io.StringIO()
        call_command(
            "create_api_client", "demo-simulator", "--scopes", "serve", "analyze",
            "--lifetime-days", "1", stdout=out, stderr=io.StringIO(),
        )  # fmt: skip
        key = out.getvalue().strip()
        os.environ["SPLITLAB_SIM_TOKEN"] = key  # read by `simulate`, never on a command line


def children(var_dir: Path) -> dict[str, list[str]]:
    """The supervised commands, by name (the demo's simulated users unless turned off)."""
    commands = {
        "worker": [
            str(BIN / "celery"), "-A", "config", "worker", "--loglevel", "INFO",
            "--queues", "default,training,serving", "--concurrency", "2",
        ],
        "beat": [
            str(BIN / "celery"), "-A", "config", "beat", "--loglevel", "INFO",
            "--schedule", str(var_dir / "celerybeat-schedule"),
        ],
        "web": [
            str(BIN / "gunicorn"), "config.wsgi:application", "--workers", "2",
            "--bind", f"{HOST}:{PORT}", "--access-logfile", "-",
        ],
    }  # fmt: skip
    if DEMO_TRAFFIC:
        # Users of the demo experiment through the public API, with its planted truth
        # (setup_demo.DEMO_PLANTED_LIFT: item-CF +25% CTR); see the README's simulator section.
        commands["simulator"] = [
            str(BIN / "python"), "manage.py", "simulate", "--live", "--rate", "5",
            "--experiment", "home-recs", "--surface", "home", "--planted-lift", "0.25",
            "--control-variant", "control", "--base-url", f"http://{HOST}:{PORT}",
            "--ledger", str(var_dir / "simulator" / "demo-ledger.jsonl"), "--wait", "120",
        ]  # fmt: skip
    return commands


def _die_with_supervisor() -> None:
    """In a child before exec: SIGTERM when the supervisor dies, even by SIGKILL (Linux)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:  # not Linux: Ctrl-C and SIGTERM still stop every child
        pass


@dataclass
class Child:
    """One supervised command and its current process."""

    name: str
    argv: list[str]
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    quick_deaths: int = 0
    restart_at: float | None = None
    restarts: int = 0

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


@dataclass
class Supervisor:
    """Starts children in their own process groups, restarts one that exits, stops all."""

    commands: dict[str, list[str]]
    log: Callable[[str], None] = print
    clock: Callable[[], float] = time.monotonic
    env: dict[str, str] | None = None
    children: dict[str, Child] = field(default_factory=dict)
    stopping: bool = False

    def start(self) -> None:
        for name, argv in self.commands.items():
            self.children[name] = Child(name, argv)
            self._spawn(self.children[name])

    def _spawn(self, child: Child) -> None:
        child.process = subprocess.Popen(
            child.argv, start_new_session=True, preexec_fn=_die_with_supervisor, env=self.env
        )
        child.started_at = self.clock()
        child.restart_at = None

    def backoff_seconds(self, child: Child) -> float:
        """``FIRST_BACKOFF_SECONDS * 2**(quick deaths - 1)``, at most ``MAX_BACKOFF_SECONDS``."""
        return min(MAX_BACKOFF_SECONDS, FIRST_BACKOFF_SECONDS * 2 ** max(child.quick_deaths - 1, 0))

    def check(self) -> None:
        """Restart what exited (after its back-off); call about once a second."""
        now = self.clock()
        for child in self.children.values():
            if self.stopping or child.process is None:
                continue
            if child.restart_at is not None:
                if now >= child.restart_at:
                    child.restarts += 1
                    self.log(f"{child.name}: restarting (restart {child.restarts})")
                    self._spawn(child)
                continue
            code = child.process.poll()
            if code is None:
                continue
            _kill_group(child.process.pid, signal.SIGKILL)  # its orphans go with it
            ran = now - child.started_at
            child.quick_deaths = 1 if ran >= STABLE_SECONDS else child.quick_deaths + 1
            delay = self.backoff_seconds(child)
            child.restart_at = now + delay
            self.log(f"{child.name}: exited with status {code}; restarting in {delay:g} s")

    def stop(self, timeout_seconds: float = STOP_TIMEOUT_SECONDS) -> None:
        """SIGTERM every child (each stops its own workers: Celery's warm shutdown, gunicorn's
        graceful one), then SIGKILL each child's process group after the timeout, so that
        nothing of it is left."""
        self.stopping = True
        processes = [c.process for c in self.children.values() if c.process is not None]
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = self.clock() + timeout_seconds
        for process in processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.0, deadline - self.clock()))
            _kill_group(process.pid, signal.SIGKILL)
            process.wait()


def _kill_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _answers_health() -> bool:
    """Whether the web server answers ``/healthz`` (any status: it is up, maybe degraded)."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://{HOST}:{PORT}/healthz", timeout=1):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def serve() -> int:
    """Run the supervised children until SIGINT or SIGTERM."""
    from django.conf import settings

    supervisor = Supervisor(children(Path(settings.VAR_DIR)))

    def request_stop(*_: object) -> None:
        supervisor.stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    supervisor.start()
    announced = False
    try:
        while not supervisor.stopping:
            if not announced and _answers_health():
                # Said only once /healthz answers: before that the address refuses connections.
                print(
                    f"Splitlab is running on http://{HOST}:{PORT}/ (sign in as admin / admin; "
                    "API docs: /api/docs/). Ctrl-C stops it.",
                    flush=True,
                )
                announced = True
            supervisor.check()
            time.sleep(0.5)
    finally:
        supervisor.stop()
    print("Splitlab stopped.")
    return 0


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    preflight()
    prepare()
    return serve()


if __name__ == "__main__":
    sys.exit(main())
