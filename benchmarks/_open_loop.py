"""An open-loop HTTP load generator: requests arrive at a fixed rate, whatever the server does.

A closed-loop client (wrk's connections) sends its next request only when the previous answer
has come: a server that stalls also stalls the client, the requests it would have sent during
the stall are never sent, and their latency is never measured (coordinated omission). Here
request ``n`` is due at ``start + n / rate``, fixed in advance, and its latency is measured
from that scheduled time: a request that waited for a free connection, for the event loop or
for the server counts the wait.

Raw asyncio streams on 127.0.0.1, HTTP/1.1 with keep-alive (a connection the server closes,
as gunicorn's sync workers close every one, is opened again for the next request), requests
given as ready bytes and sent in turn. The pool holds ``rate x POOL_LATENCY_SECONDS``
connections (Little's law: enough for every request in flight to take that long without
waiting for a connection), at least ``MIN_CONNECTIONS`` and at most ``max_connections``;
beyond that, requests queue here, and the queueing counts in their latency.

The generator runs in the calling process and shares the host with the server, so it
reports its own CPU (``time.process_time`` of this process over the run).
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

POOL_LATENCY_SECONDS = 0.1
MIN_CONNECTIONS = 4
REQUEST_TIMEOUT_SECONDS = 10.0
DRAIN_SECONDS = 30.0  # after the last scheduled send, how long answers are waited for
HOST = "127.0.0.1"


def get_request(path: str, port: int, headers: dict[str, str]) -> bytes:
    """A ready ``GET`` request for :func:`run_open_loop`."""
    lines = [f"GET {path} HTTP/1.1", f"Host: {HOST}:{port}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


@dataclass(frozen=True)
class OpenLoopResult:
    """One run at a fixed offered rate. Latencies are of the answered requests, in ms from
    each request's scheduled send time."""

    offered_rate: float  # requests/s scheduled
    connections: int
    latencies_ms: np.ndarray
    elapsed_seconds: float  # first scheduled send to the last answer
    non_2xx: int
    errors: int  # no answer: connection failure, timeout, or not answered in the drain time
    flagged: int  # answered bodies matching the run's ``flag`` pattern
    cpu_seconds: float  # the generator's own CPU over the run

    @property
    def answered(self) -> int:
        return len(self.latencies_ms)

    @property
    def achieved_rate(self) -> float:
        return self.answered / self.elapsed_seconds if self.elapsed_seconds > 0 else 0.0

    def percentile_ms(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if self.answered else math.nan

    @property
    def flagged_rate(self) -> float:
        return self.flagged / max(1, self.answered)

    @property
    def cpu_ms_per_request(self) -> float:
        return 1000 * self.cpu_seconds / max(1, self.answered)


def pool_size(rate: float, max_connections: int) -> int:
    """Connections for ``rate`` requests/s (see the module docstring)."""
    return max(MIN_CONNECTIONS, min(max_connections, math.ceil(rate * POOL_LATENCY_SECONDS)))


def run_open_loop(
    port: int,
    requests: Sequence[bytes],
    rate: float,
    duration_seconds: float,
    *,
    flag: re.Pattern[bytes] | None = None,
    max_connections: int = 64,
) -> OpenLoopResult:
    """Send ``rate x duration_seconds`` requests to 127.0.0.1:``port`` at a fixed rate,
    cycling through ``requests``; ``flag``: count the answered bodies it matches."""
    return asyncio.run(
        _run(port, requests, rate, duration_seconds, flag, pool_size(rate, max_connections))
    )


@dataclass
class _Tally:
    flag: re.Pattern[bytes] | None
    latencies: list[float] = field(default_factory=list)
    non_2xx: int = 0
    flagged: int = 0
    last_answer: float = 0.0

    def record(self, scheduled: float, status: int, body: bytes) -> None:
        self.last_answer = time.perf_counter()
        self.latencies.append(self.last_answer - scheduled)
        self.non_2xx += not 200 <= status < 300
        self.flagged += bool(self.flag is not None and self.flag.search(body))


async def _run(
    port: int,
    requests: Sequence[bytes],
    rate: float,
    duration_seconds: float,
    flag: re.Pattern[bytes] | None,
    connections: int,
) -> OpenLoopResult:
    total = max(1, round(rate * duration_seconds))
    queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()
    tally = _Tally(flag)
    cpu_before = time.process_time()
    start = time.perf_counter()
    senders = [asyncio.create_task(_send_in_turn(port, queue, tally)) for _ in range(connections)]
    await _schedule(queue, requests, rate, total, start)
    for _ in senders:
        queue.put_nowait(None)
    _, late = await asyncio.wait(senders, timeout=DRAIN_SECONDS)
    for sender in late:
        sender.cancel()
    await asyncio.gather(*late, return_exceptions=True)
    answered = len(tally.latencies)
    return OpenLoopResult(
        offered_rate=rate,
        connections=connections,
        latencies_ms=1000 * np.asarray(tally.latencies),
        elapsed_seconds=max(0.0, tally.last_answer - start),
        non_2xx=tally.non_2xx,
        errors=total - answered,
        flagged=tally.flagged,
        cpu_seconds=time.process_time() - cpu_before,
    )


async def _schedule(
    queue: asyncio.Queue[tuple[float, bytes] | None],
    requests: Sequence[bytes],
    rate: float,
    total: int,
    start: float,
) -> None:
    """Queue request ``n`` with its scheduled time ``start + n / rate``; when the loop wakes
    late, every request already due goes at once (their latency still counts from their
    scheduled time)."""
    queued = 0
    while queued < total:
        due = min(total, int((time.perf_counter() - start) * rate) + 1)
        for n in range(queued, due):
            queue.put_nowait((start + n / rate, requests[n % len(requests)]))
        queued = due
        await asyncio.sleep(max(0.0, start + queued / rate - time.perf_counter()))


async def _send_in_turn(
    port: int, queue: asyncio.Queue[tuple[float, bytes] | None], tally: _Tally
) -> None:
    """One connection of the pool: take the next due request, send it, read the answer;
    reopen the connection when the server closed it or it failed."""
    stream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
    while (item := await queue.get()) is not None:
        scheduled, request = item
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT_SECONDS):
                stream = stream or await asyncio.open_connection(HOST, port)
                status, body, keep_alive = await _exchange(*stream, request)
        except (
            OSError,
            TimeoutError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ValueError,
        ):
            keep_alive = False  # counted as an error: scheduled but never answered
        else:
            tally.record(scheduled, status, body)
        if not keep_alive and stream is not None:
            stream[1].close()
            stream = None
    if stream is not None:
        stream[1].close()


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, bytes, bool]:
    """Send one request; returns the answer's status, body, and whether the connection
    stays open. Bodies need a Content-Length, or the server closing the connection."""
    writer.write(request)
    await writer.drain()
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    status_line, *header_lines = head.rstrip("\r\n").split("\r\n")
    version, status = status_line.split(" ", 2)[:2]
    headers = {
        name.strip().lower(): value.strip()
        for name, _, value in (line.partition(":") for line in header_lines)
    }
    keep_alive = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif not keep_alive:
        body = await reader.read()
    else:
        raise ValueError("an answer without Content-Length on a kept connection")
    return int(status), body, keep_alive
