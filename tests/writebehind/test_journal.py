"""The journal: what a killed process appended is replayed once by another; a live owner's
segments are never taken; a torn last line is skipped."""

from __future__ import annotations

import fcntl
import os
import signal

import pytest

from writebehind.journal import Journal


def _killed_child(folder, records: list, torn: bytes = b"") -> None:
    """A forked process that appends ``records`` (and, optionally, a torn line), then dies
    by SIGKILL, as the OOM killer would kill it."""
    pid = os.fork()
    if pid == 0:  # the child: no cleanup, no atexit
        journal = Journal(folder, "stream")
        journal.append(records)
        if torn:
            os.write(journal.fd, torn)
        os.kill(os.getpid(), signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL


def test_a_killed_process_s_records_are_replayed_once(tmp_path):
    _killed_child(tmp_path, [["u", "a", 1.0], ["u", "b", 2.0]], torn=b'["u", "c"')
    survivor = Journal(tmp_path, "stream")
    survivor.append([["u", "mine", 3.0]])  # the survivor's own records are not replayed
    written: list = []
    assert survivor.replay_dead(written.extend) == 2
    assert written == [["u", "a", 1.0], ["u", "b", 2.0]]
    assert survivor.replay_dead(written.extend) == 0  # deleted once stored
    assert len(written) == 2


def test_a_failed_replay_leaves_the_files_for_the_next_attempt(tmp_path):
    _killed_child(tmp_path, [["x", 1]])
    survivor = Journal(tmp_path, "stream")

    def down(records: list) -> None:
        raise ConnectionError("database down")

    with pytest.raises(ConnectionError):
        survivor.replay_dead(down)
    written: list = []
    assert survivor.replay_dead(written.extend) == 1
    assert written == [["x", 1]]


def test_a_live_owner_is_not_replayed_and_rotation_hands_over_its_segments(tmp_path):
    owner = Journal(tmp_path, "stream", sync_mode="always")
    owner.make_durable(owner.append([[1], [2]]))  # mode "always": on disk when it returns
    assert owner.synced == owner.written > 0
    other = Journal(tmp_path, "stream")
    assert other.replay_dead(list) == 0  # the owner holds its lock
    segments = owner.rotate()
    assert [p.read_text() for p in segments] == ["[1]\n[2]\n"]
    owner.append([[3]])  # a new segment
    Journal.discard(segments)
    assert [p.read_text() for p in owner.rotate()] == ["[3]\n"]


def test_an_unknown_sync_mode_is_refused(tmp_path):
    with pytest.raises(ValueError, match="sync_mode"):
        Journal(tmp_path, "stream", sync_mode="sometimes")


def test_a_forked_child_does_not_keep_its_parent_s_journal_locked(tmp_path):
    """The child inherits the parent's descriptors; it must close them, or the parent's
    journal could not be replayed after the parent died while the child lives."""
    parent = Journal(tmp_path, "stream")
    parent.append([["before-fork"]])
    ready_read, ready_write = os.pipe()
    stop_read, stop_write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: what the fork hook runs, then wait until told to exit
        parent.after_fork_in_child()
        os.write(ready_write, b"x")
        os.read(stop_read, 1)
        os._exit(0)
    try:
        os.read(ready_read, 1)
        probe = os.open(next(tmp_path.glob("stream/*.lock")), os.O_RDWR)
        parent.after_fork_in_child()  # as if the parent were gone: its descriptors closed
        fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free although the child lives
        os.close(probe)
    finally:
        os.write(stop_write, b"x")
        os.waitpid(pid, 0)
