"""``make run`` supervises its children: a dead one is restarted with back-off and its
orphans killed, the others keep running, and a stop stops every process group."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from ops import launcher

# A child that starts a grandchild in its process group, records the grandchild's pid, sleeps.
CHILD = (
    "import subprocess, sys, time; "
    "g = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); "
    "open(sys.argv[1], 'a').write(f'{g.pid}\\n'); time.sleep(600)"
)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped by its parent) counts as gone
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] != "Z"
    except OSError:
        return False


def wait_until(condition, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def grandchildren(path: Path) -> list[int]:
    return [int(line) for line in path.read_text().split()] if path.exists() else []


def test_a_killed_child_is_restarted_after_backoff_with_its_orphans_gone(tmp_path):
    files = {name: tmp_path / f"{name}.pids" for name in ("worker", "web")}
    now = [1000.0]
    logged: list[str] = []
    supervisor = launcher.Supervisor(
        {name: [sys.executable, "-c", CHILD, str(path)] for name, path in files.items()},
        log=logged.append,
        clock=lambda: now[0],
    )
    supervisor.start()
    try:
        assert wait_until(lambda: all(grandchildren(p) for p in files.values()))
        worker, web = supervisor.children["worker"], supervisor.children["web"]
        first_pid, web_pid = worker.process.pid, web.process.pid
        orphan = grandchildren(files["worker"])[0]

        os.kill(first_pid, signal.SIGKILL)
        assert wait_until(lambda: worker.process.poll() is not None)
        supervisor.check()
        assert wait_until(lambda: not alive(orphan)), "the dead child's group outlived it"
        assert "worker: exited with status -9; restarting in 1 s" in logged
        supervisor.check()
        assert worker.process.pid == first_pid  # not before the back-off
        now[0] += 1.0
        supervisor.check()
        assert worker.process.pid != first_pid and worker.restarts == 1
        assert web.process.pid == web_pid and web.process.poll() is None

        # A second quick death doubles the back-off.
        os.kill(worker.process.pid, signal.SIGKILL)
        assert wait_until(lambda: worker.process.poll() is not None)
        supervisor.check()
        assert logged[-1].endswith("restarting in 2 s")
    finally:
        supervisor.stop(timeout_seconds=5)
    every_pid = [c.process.pid for c in supervisor.children.values()]
    every_pid += [pid for path in files.values() for pid in grandchildren(path)]
    assert wait_until(lambda: not any(alive(pid) for pid in every_pid))


def test_beat_runs_alone_with_its_schedule_under_the_var_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(launcher, "DEMO_TRAFFIC", False)
    commands = launcher.children(tmp_path)
    assert set(commands) == {"worker", "beat", "web"}
    assert "--beat" not in commands["worker"] and "-B" not in commands["worker"]
    schedule = commands["beat"][commands["beat"].index("--schedule") + 1]
    assert schedule == str(tmp_path / "celerybeat-schedule")


def test_the_demo_traffic_is_a_supervised_simulator_against_the_demo_experiment(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(launcher, "DEMO_TRAFFIC", True)
    simulator = launcher.children(tmp_path)["simulator"]
    assert simulator[1:4] == ["manage.py", "simulate", "--live"]
    assert simulator[simulator.index("--experiment") + 1] == "home-recs"
    assert simulator[simulator.index("--base-url") + 1] == f"http://{launcher.HOST}:{launcher.PORT}"
    assert "--token" not in simulator  # the key travels in the environment, not in `ps`
