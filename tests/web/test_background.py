"""A web process's background threads: the refresher runs each registered job every half its
TTL off the request's thread, survives a failing job, stops, and is off when turned off; a
bounded read gives up at its bound, at once when every reader is busy."""

from __future__ import annotations

import threading
import time

import pytest

from web import background


@pytest.fixture
def threads_on(settings, monkeypatch):
    """Background threads allowed, with only this test's jobs registered (the apps' jobs
    read the database, which a thread of its own must not touch in a test)."""
    settings.SPLITLAB_BACKGROUND_THREADS = True
    monkeypatch.setattr(background, "_jobs", {})
    yield
    background.stop()


def _wait_for(condition, seconds: float = 3.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return bool(condition())


def test_each_job_runs_every_half_its_ttl_on_the_refresher_thread(threads_on):
    calls: list[tuple[float, int]] = []
    background.register(
        "tick", lambda: calls.append((time.monotonic(), threading.get_ident())), lambda: 0.2
    )
    assert background.ensure_started() is True
    assert background.running()
    time.sleep(0.55)
    background.stop()
    assert not background.running()
    # At once, then every 0.1 s: 0, 0.1, ..., 0.5 (a loaded machine may run one late).
    assert 4 <= len(calls) <= 7, calls
    gaps = [b - a for (a, _), (b, _) in zip(calls, calls[1:], strict=False)]
    assert all(gap >= 0.09 for gap in gaps), gaps
    assert {thread for _, thread in calls} != {threading.get_ident()}
    stopped_at = len(calls)
    time.sleep(0.25)
    assert len(calls) == stopped_at  # stopped: no more turns


def test_a_failing_job_is_tried_again_and_the_others_still_run(threads_on):
    failures, runs = [], []

    def failing() -> None:
        failures.append(1)
        raise RuntimeError("database unreachable")

    background.register("failing", failing, lambda: 0.1)
    background.register("working", lambda: runs.append(1), lambda: 0.1)
    background.ensure_started()
    assert _wait_for(lambda: len(failures) >= 3 and len(runs) >= 3)
    assert background.running()


def test_turned_off_no_thread_starts(settings, monkeypatch):
    settings.SPLITLAB_BACKGROUND_THREADS = False
    monkeypatch.setattr(background, "_jobs", {})
    calls = []
    background.register("never", lambda: calls.append(1), lambda: 0.1)
    assert background.ensure_started() is False
    assert not background.running()
    time.sleep(0.1)
    assert calls == []


def test_a_refresher_started_by_another_process_is_started_again_here(threads_on):
    """After a fork the child holds the parent's refresher object but not its thread: it is
    not running in the child, and the child's first request starts its own."""
    background.ensure_started()
    first, first_stopped = background._refresher.thread, background._refresher.stopped
    background._refresher.pid = -1  # as seen from a forked child: started elsewhere
    try:
        assert not background.running()
        assert background.ensure_started() is True
        assert background._refresher.thread is not first and background.running()
    finally:
        first_stopped.set()  # the "parent's" thread, which a real fork leaves behind
        first.join(5)


def test_refresh_now_runs_every_job_in_the_calling_thread(threads_on):
    threads = []
    background.register("a", lambda: threads.append(threading.get_ident()), lambda: 60)
    background.register("b", lambda: threads.append(threading.get_ident()), lambda: 60)
    background.refresh_now()
    assert threads == [threading.get_ident()] * 2


# --- bounded reads -------------------------------------------------------------------------------
def _slow(seconds: float, value: object = "late"):
    def read() -> object:
        time.sleep(seconds)
        return value

    return read


def test_a_read_within_its_bound_returns_its_value_from_a_reader_thread(threads_on):
    caller = threading.get_ident()
    assert background.read_within(threading.get_ident, 1.0) != caller
    assert background.read_within(lambda: "fast", 0.5) == "fast"


def test_a_slow_read_is_given_up_at_its_bound(threads_on):
    started = time.monotonic()
    with pytest.raises(background.ReadTimedOut):
        background.read_within(_slow(0.5), 0.03)
    assert time.monotonic() - started < 0.2  # 30 ms, not the read's 500 ms


def test_when_every_reader_is_busy_a_read_is_given_up_at_once(threads_on):
    for _ in range(background.READERS):  # each left running, past its bound
        with pytest.raises(background.ReadTimedOut):
            background.read_within(_slow(0.4), 0.01)
    started = time.monotonic()
    with pytest.raises(background.ReadTimedOut, match="busy"):
        background.read_within(lambda: "fast", 1.0)
    assert time.monotonic() - started < 0.05  # no queue behind slow reads
    # Once they end, the readers serve again.
    assert _wait_for(lambda: _reads_again())


def _reads_again() -> bool:
    try:
        return background.read_within(lambda: True, 0.5)
    except background.ReadTimedOut:
        return False


def test_an_error_of_the_read_reaches_the_caller(threads_on):
    def broken() -> None:
        raise ValueError("bad row")

    with pytest.raises(ValueError, match="bad row"):
        background.read_within(broken, 1.0)


def test_without_background_threads_or_bound_the_read_is_inline(settings):
    settings.SPLITLAB_BACKGROUND_THREADS = False
    caller = threading.get_ident()
    assert background.read_within(threading.get_ident, 0.01) == caller
    assert background.read_within(_slow(0.05, "slow"), 0.01) == "slow"  # unbounded
    settings.SPLITLAB_BACKGROUND_THREADS = True
    assert background.read_within(threading.get_ident, 0) == caller
