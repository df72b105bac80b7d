"""The flusher thread can be stopped (between tests) and starts again on the next record."""

from __future__ import annotations

from writebehind import buffer as writebehind


def test_stop_ends_the_thread_and_add_restarts_it():
    flusher = writebehind._flusher
    flusher.ensure_running()
    thread = flusher.thread
    assert thread is not None and thread.is_alive()
    writebehind.stop_flusher()
    assert not thread.is_alive()
    flusher.ensure_running()
    assert flusher.thread is not thread and flusher.thread.is_alive()
    writebehind.stop_flusher()
