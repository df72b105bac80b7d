"""The served-list buffer is written by its flusher thread, never in a request."""

from __future__ import annotations

import threading
import time

from recommenders.serving import log as serving_log


def _row(n: int) -> dict:
    return {"request_id": f"r{n}", "user_id": "u", "items": []}


def test_a_full_buffer_is_written_by_the_flusher_thread(settings, monkeypatch):
    settings.SPLITLAB_SERVED_LIST_BUFFER_ROWS = 3
    settings.SPLITLAB_SERVED_LIST_FLUSH_SECONDS = 30.0  # only fullness can trigger it here
    writes: list[tuple[int, list[str]]] = []

    def record(rows):
        writes.append((threading.get_ident(), [row["request_id"] for row in rows]))
        return len(rows)

    monkeypatch.setattr(serving_log, "_write", record)
    buffer = serving_log._ServedListBuffer()
    for n in range(3):
        buffer.add_row(_row(n))
    deadline = time.monotonic() + 5
    while not writes and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [ids for _, ids in writes] == [["r0", "r1", "r2"]]
    assert writes[0][0] != threading.get_ident()


def test_without_a_buffer_each_list_is_written_in_the_request(settings, monkeypatch):
    settings.SPLITLAB_SERVED_LIST_BUFFER_ROWS = 0
    written = []
    monkeypatch.setattr(serving_log, "_write", lambda rows: written.append(threading.get_ident()))
    serving_log._ServedListBuffer().add_row(_row(1))
    assert written == [threading.get_ident()]
