"""A slow database (every round trip 200 ms longer, through a proxy): the recommendation
deadline holds. A worker that needs the database answers late; the web process stops waiting
at the deadline and answers from the fallback lists, marked, instead of waiting with it.

Found: the web process's own database work per request (a connection health check, the
fallback list's read, the served-list and counter flushes) is synchronous, so at 200 ms per
round trip a request still takes 1.2 to 2.3 s; the deadline bounds only the wait for the
worker. Serving the fallback lists from memory and flushing off the request path would bring
a request back to about the deadline.
"""

from __future__ import annotations

import time
from urllib.parse import urlparse

from tests.faults import stack

DELAY_SECONDS = 0.2
DEADLINE_SECONDS = 0.1  # SPLITLAB_SERVING_DEADLINE_MS's default
MAX_WEB_ROUND_TRIPS = 15


def test_slow_database_keeps_the_recommendation_deadline(postgres_prepared, redis):
    prepared = postgres_prepared
    database = urlparse(prepared.database_url)
    with stack.DelayProxy(database.port or 5432, 0.0) as proxy:
        slow_url = database._replace(netloc=f"{database.username}@127.0.0.1:{proxy.port}")
        env = prepared.environment(redis.url(0))
        env.database_url = slow_url.geturl()
        with stack.worker(env, "serving", concurrency=1), stack.gunicorn(env) as base:
            client = stack.Client(base, prepared.token)
            assert stack.serving_answers(client, prepared.users)
            proxy.delay_seconds = DELAY_SECONDS
            answers = []
            for n in range(15):
                started = time.monotonic()
                status, body = client.recommend(f"never-seen-{n}")  # no cached profile
                answers.append((time.monotonic() - started, status, body))
    latencies = sorted(seconds for seconds, _, _ in answers)
    assert {status for _, status, _ in answers} == {200}
    # The worker reads through the slow database and misses the deadline: the web process
    # stops waiting for it then and answers from the fallback lists, marked.
    assert all(body["fallback_reason"] == "timeout" for _, _, body in answers)
    # What a request still costs is the web process's own round trips (measured: 6 to 11 at
    # 200 ms: the connection health check, the fallback list, the served-list and counter
    # flushes), never the worker's: bounded at 15 round trips past the deadline.
    assert latencies[-1] < DEADLINE_SECONDS + MAX_WEB_ROUND_TRIPS * DELAY_SECONDS, latencies
