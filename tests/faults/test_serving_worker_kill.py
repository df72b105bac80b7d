"""A serving worker process killed with SIGKILL: fallbacks during the gap, none after.

Found: with the embedded broker, one pool child killed while idle left the pool deadlocked
(100% fallbacks for ever, messages piling up, ``/healthz`` ok); over Redis each replacement
child was killed again for warming up longer than 4 s. See ``ops/pool.py``.
"""

from __future__ import annotations

import threading
import time

from tests.faults import stack


def _burst(client: stack.Client, users: list[str], n: int) -> tuple[int, int]:
    """(server errors, fallbacks) over ``n`` recommendations."""
    errors = fallbacks = 0
    for i in range(n):
        status, body = client.recommend(users[i % len(users)])
        errors += status >= 500
        fallbacks += bool(body.get("fallback"))
    return errors, fallbacks


def _kill_one_child_and_recover(prepared: stack.Prepared, broker_url: str) -> None:
    env = prepared.environment(broker_url)
    with stack.worker(env, "serving", concurrency=2) as worker, stack.gunicorn(env) as base:
        client = stack.Client(base, prepared.token)
        assert stack.serving_answers(client, prepared.users), "the worker never answered"
        assert stack.wait_until(lambda: client.health()[1].get("serving") == "ok: 2 processes", 15)
        children = stack.child_pids(worker.pid)
        assert len(children) == 2
        stack.kill(children[0])
        # The pool forks a replacement, which warms its models; then nothing falls back.
        assert stack.wait_until(
            lambda: (
                len(stack.child_pids(worker.pid)) == 2
                and children[0] not in stack.child_pids(worker.pid)
            ),
            30,
        )
        assert stack.serving_answers(client, prepared.users, seconds=30)
        assert _burst(client, prepared.users, 40) == (0, 0)
        assert stack.wait_until(lambda: client.health()[1].get("serving") == "ok: 2 processes", 30)


def test_embedded_serving_child_killed_is_replaced_and_nothing_falls_back(embedded_prepared):
    _kill_one_child_and_recover(embedded_prepared, "")


def test_serving_worker_killed_and_restarted_under_load(postgres_prepared, redis):
    """Under load over Redis: one pool child SIGKILLed is replaced and nothing falls back
    after; then the whole worker SIGKILLed: every answer is still a 200 (fallbacks, marked,
    during the gap), /healthz says serving is down, and after a restart nothing falls back."""
    env = postgres_prepared.environment(redis.url(0))
    users = postgres_prepared.users
    client = stack.Client("", postgres_prepared.token)
    results: list[tuple[float, int, bool, str]] = []
    stop = threading.Event()

    def load() -> None:
        n = 0
        while not stop.is_set():
            status, body = client.recommend(users[n % len(users)])
            results.append(
                (time.monotonic(), status, bool(body.get("fallback")), body.get("fallback_reason"))
            )
            n += 1
            time.sleep(0.02)

    def fallbacks_after(moment: float, until: float = float("inf")) -> list:
        return [(round(r[0] - moment, 2), r[3]) for r in results if moment < r[0] < until and r[2]]

    with stack.gunicorn(env) as base:
        client.base = base
        with stack.worker(env, "serving", concurrency=2) as first:
            assert stack.serving_answers(client, users)
            loader = threading.Thread(target=load, daemon=True)
            loader.start()
            children = stack.child_pids(first.pid)
            stack.kill(children[0])
            assert stack.wait_until(
                lambda: len(set(stack.child_pids(first.pid)) - set(children)) == 1, 30
            )
            assert stack.wait_until(
                lambda: client.health()[1].get("serving") == "ok: 2 processes", 60
            )
            replaced_at = time.monotonic()
            time.sleep(3)
            for pid in [first.pid, *stack.child_pids(first.pid)]:
                stack.kill(pid)
            killed_at = time.monotonic()
            first.wait(timeout=10)
        down = stack.wait_until(lambda: client.health()[1]["serving"].startswith("down"), 10)
        with stack.worker(env, "serving", concurrency=2):
            assert stack.serving_answers(client, users, seconds=60)
            recovered_at = time.monotonic()
            time.sleep(3)
            stop.set()
            loader.join(timeout=15)
    assert all(r[1] == 200 for r in results), {r[1] for r in results}
    assert not fallbacks_after(replaced_at, killed_at)
    assert down, "/healthz kept reporting serving workers after they were killed"
    during_gap = [r for r in results if killed_at + 1 < r[0] < recovered_at - 5]
    assert during_gap and all(r[2] for r in during_gap)
    assert not fallbacks_after(recovered_at)
    assert any(r[0] > recovered_at for r in results)
