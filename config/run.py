"""``make run``: prepare the database, then run one Celery worker and gunicorn until Ctrl-C.

Steps: check that the database and the broker answer (one line naming the variable if not),
migrate, create the admin user, load demo data (or MovieLens from ``SPLITLAB_DATA``), set up
the demo (trained configurations, a running experiment, an API token: ``setup_demo``), then
start the worker (all queues, with beat) and gunicorn with two sync workers on
http://127.0.0.1:8000. Ctrl-C stops both cleanly.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent
HOST = os.environ.get("SPLITLAB_HOST", "127.0.0.1")
PORT = os.environ.get("SPLITLAB_PORT", "8000")


def preflight() -> None:
    """Exit with one line naming the variable when the database or broker is unreachable."""
    from config.health import check_broker, check_database

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


def serve() -> int:
    """Start the worker and gunicorn; stop both on SIGINT/SIGTERM or when either exits."""
    worker = subprocess.Popen(
        [
            str(BIN / "celery"),
            "-A",
            "config",
            "worker",
            "--beat",
            "--loglevel",
            "INFO",
            "--queues",
            "default,training,serving",
            "--concurrency",
            "2",
            "--schedule",
            str(Path("var") / "celerybeat-schedule"),
        ],
    )
    web = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "config.wsgi:application",
            "--workers",
            "2",
            "--bind",
            f"{HOST}:{PORT}",
            "--access-logfile",
            "-",
        ],
    )
    print(
        f"Splitlab is running on http://{HOST}:{PORT}/ (admin: /admin/, API docs: /api/docs/)."
        " Ctrl-C stops it.",
        flush=True,
    )

    def stop(*_: object) -> None:
        for process in (web, worker):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        while web.poll() is None and worker.poll() is None:
            try:
                web.wait(timeout=1)
            except subprocess.TimeoutExpired:
                continue
    finally:
        stop()
        for process in (web, worker):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
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
