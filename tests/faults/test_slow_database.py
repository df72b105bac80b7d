"""A slow database (every round trip 200 ms longer, through a proxy): the recommendation
deadline holds. A worker that needs the database answers late; the web process stops waiting
at the deadline and answers from the fallback lists, marked, instead of waiting with it.

Found: the web process's own database work per request (a connection health check, the reads
of configuration, versions, popular list and API key when a cache expired, the fallback
list's read, the served-list and counter flushes) was synchronous, so at 200 ms per round trip
a request took 0.6 to 2.3 s (this test on that code: p50 1.40 s, p99 1.68 s); the deadline
bounded only the wait for the worker, and that wait itself ended on Redis's 10 Hz tick, up to
100 ms late. Now each web process refreshes what requests read on a thread of its own
(``web.background``), bounds the one read left (``SPLITLAB_FALLBACK_READ_MS``), writes its
records on the flusher thread, and times the wait for the worker itself: a request takes
about the deadline.
"""

from __future__ import annotations

import math
import time
from urllib.parse import urlparse

from tests.faults import stack

DELAY_SECONDS = 0.2
DEADLINE_SECONDS = 0.1  # SPLITLAB_SERVING_DEADLINE_MS's default
MARGIN_SECONDS = 0.1  # the web process's own work and a loaded host's scheduling
REQUESTS = 60


def _quantile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank quantile of sorted values."""
    return sorted_values[max(math.ceil(q * len(sorted_values)) - 1, 0)]


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
            for n in range(REQUESTS):
                started = time.monotonic()
                status, body = client.recommend(f"never-seen-{n}")  # no cached profile
                answers.append((time.monotonic() - started, status, body))
    latencies = sorted(seconds for seconds, _, _ in answers)
    assert {status for _, status, _ in answers} == {200}
    # The worker reads through the slow database and misses the deadline: the web process
    # stops waiting for it then and answers from the fallback lists, marked.
    assert all(body["fallback"] for _, _, body in answers)
    assert all(body["fallback_reason"] == "timeout" for _, _, body in answers)
    assert all(body["items"] for _, _, body in answers)  # the popular list in memory
    # The request's own thread sends no query: what it costs past the deadline is its own
    # work, never a database round trip (200 ms each). Measured here: p50 137 ms, p99 142 ms
    # (before: p50 1.40 s, p99 1.68 s).
    p50, p99 = _quantile(latencies, 0.5), _quantile(latencies, 0.99)
    print(f"slow database: p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms over {REQUESTS}")
    assert p99 <= DEADLINE_SECONDS + MARGIN_SECONDS, (p50, p99, latencies)
