"""The write-behind buffer: journaled before add returns, kept (journal included) while the
writer fails, journal deleted once written; one flusher thread writes ``in_thread`` buffers."""

from __future__ import annotations

import threading
import time

from django.db import OperationalError

from writebehind.buffer import WriteBehindBuffer


def _buffer(writer, **options) -> WriteBehindBuffer:
    return WriteBehindBuffer(
        "test-stream",
        writer,
        max_rows=lambda: 3,
        max_age_seconds=lambda: 3600.0,
        **options,
    )


def _journal_lines(folder) -> list[str]:
    return sorted(
        line for path in folder.glob("test-stream/*.log") for line in path.read_text().split()
    )


def test_records_are_journaled_before_add_returns_and_kept_until_written(settings, tmp_path):
    settings.SPLITLAB_JOURNAL_DIR = str(tmp_path)
    failing = True
    written: list = []

    def writer(records: list) -> int:
        if failing:
            raise OperationalError("database down")
        written.extend(records)
        return len(records)

    buffer = _buffer(writer, journaled=True)
    buffer.add([[1], [2]])
    assert _journal_lines(tmp_path) == ["[1]", "[2]"]
    assert buffer.flush() == 0  # the writer failed: records and journal kept
    buffer.add([[3]])
    assert buffer.pending() == [[1], [2], [3]]
    assert _journal_lines(tmp_path) == ["[1]", "[2]", "[3]"]
    failing = False
    assert buffer.flush() == 3
    assert written == [[1], [2], [3]]
    assert _journal_lines(tmp_path) == []
    buffer.discard()


def test_without_a_journal_the_retry_memory_is_bounded(settings):
    settings.SPLITLAB_JOURNAL_DIR = ""

    def writer(records: list) -> int:
        raise OperationalError("database down")

    buffer = _buffer(writer, journaled=True)
    buffer.add([[n] for n in range(200)])  # over 50 x max_rows
    assert buffer.flush() == 0
    assert buffer.pending() == []


def test_a_full_in_thread_buffer_is_written_by_the_flusher_thread(settings):
    settings.SPLITLAB_JOURNAL_DIR = ""
    writes: list = []

    def writer(records: list) -> int:
        writes.append((threading.get_ident(), records))
        return len(records)

    buffer = _buffer(writer, in_thread=True)
    buffer.add([[1], [2], [3]])
    deadline = time.monotonic() + 5
    while not writes and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [records for _, records in writes] == [[[1], [2], [3]]]
    assert writes[0][0] != threading.get_ident()
