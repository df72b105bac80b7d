"""Redis (the broker) down for 10 s under traffic.

While it is down: assignments keep answering from each web process's cached configuration,
recommendations answer 200 from the fallback lists (marked ``fallback``), and ``/healthz``
names the broker. Within 5 s of Redis returning, recommendations come from the serving
worker again.
"""

from __future__ import annotations

import time

from tests.faults import stack

DOWN_SECONDS = 10.0
RECOVERY_SECONDS = 5.0


def test_redis_down_for_ten_seconds(postgres_prepared, redis):
    prepared = postgres_prepared
    env = prepared.environment(redis.url(0))
    users = prepared.users
    with stack.worker(env, "serving", concurrency=1), stack.gunicorn(env) as base:
        client = stack.Client(base, prepared.token)
        assert stack.serving_answers(client, users)
        for user in users[:10]:  # every web process has the experiment cached
            assert client.assign(user)[0] == 200

        redis.stop()
        stopped_at = time.monotonic()
        answers: list[tuple[str, int, dict]] = []
        n = 0
        while time.monotonic() - stopped_at < DOWN_SECONDS:
            user = users[n % len(users)]
            answers.append(("assign", *client.assign(user)))
            answers.append(("recommend", *client.recommend(user)))
            n += 1
            time.sleep(0.05)
        health_status, health = client.health()

        redis.start()
        returned_at = time.monotonic()
        recovered = stack.wait_until(
            lambda: stack.serving_answers(client, users, seconds=1.0), RECOVERY_SECONDS + 1
        )
        recovery_seconds = time.monotonic() - returned_at

    statuses = {(kind, status) for kind, status, _ in answers}
    assert statuses == {("assign", 200), ("recommend", 200)}, statuses
    assert all(body["assignments"] for kind, _, body in answers if kind == "assign"), (
        "an assignment came back empty while Redis was down"
    )
    assert all(body["fallback"] for kind, _, body in answers if kind == "recommend")
    assert health_status == 503 and health["broker"].startswith("down"), health
    assert "broker" in health["status"]
    assert recovered and recovery_seconds <= RECOVERY_SECONDS + 1, recovery_seconds
