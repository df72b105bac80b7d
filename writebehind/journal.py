"""A per-process append-only journal: records durable before the response, replayed after a
crash.

Layout, under ``<directory>/<stream>/``: each process (its *owner* name: host, pid, start
time) holds an exclusive ``flock`` on ``<owner>.lock`` while it lives and appends records,
one JSON line each, to segments ``<owner>.<n>.log``. A flush *rotates* (the current segment
is closed and a new one starts at the next append), writes the records to the database, and
only then deletes the closed segments; a failed write keeps them.

Guarantee: an append is one ``write(2)`` into the kernel before the response is sent, so a
process killed by SIGKILL or the OOM killer loses nothing it acknowledged: the kernel keeps
the bytes and releases the dead owner's lock. Against a crash of the machine itself, the
journal is synced (``fdatasync``) every ``sync_seconds`` by the flusher thread (mode
``interval``), or before every response (mode ``always``: one ``fdatasync`` per group of
concurrent appends, about 1 ms here).

Replay: any process may take the lock of a dead owner (``flock(LOCK_NB)`` succeeds only when
no process holds it), write its segments' records (the writes are idempotent, so a replay
interrupted and done again stores each record once), then delete them. A torn last line
(a write cut by the crash of the machine) is skipped.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

__all__ = ["Journal"]

logger = logging.getLogger(__name__)

SYNC_MODES = ("interval", "always")


class Journal:
    """One stream's journal for this process (reopened under a new owner after a fork)."""

    def __init__(self, directory: Path, stream: str, *, sync_mode: str = "interval") -> None:
        if sync_mode not in SYNC_MODES:
            raise ValueError(f"sync_mode: {sync_mode!r} is not one of {', '.join(SYNC_MODES)}")
        self.folder = Path(directory) / stream
        self.sync_mode = sync_mode
        self.lock = threading.Lock()  # guards the file descriptors and counters below
        self.sync_lock = threading.Lock()  # one fdatasync at a time (group commit)
        self.pid = -1
        self.owner = ""
        self.lock_fd: int | None = None
        self.fd: int | None = None
        self.segment = 0
        self.open_segments: list[Path] = []  # written since the last rotation
        self.written = 0  # bytes appended to the current segment
        self.synced = 0  # bytes of the current segment known synced

    # --- appending (the request path) -----------------------------------------------------
    def append(self, records: list[Any]) -> tuple[int, int] | None:
        """Append records (JSON values) in one ``write``; returns once the kernel has them,
        with the position to pass to :meth:`make_durable`."""
        if not records:
            return None
        data = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records).encode()
        with self.lock:
            fd = self._current_fd()
            _write_all(fd, data)
            self.written += len(data)
            return fd, self.written

    def make_durable(self, position: tuple[int, int] | None) -> None:
        """Mode ``always``: return once the bytes up to ``position`` are on disk (one
        ``fdatasync`` serves every thread waiting at the time: group commit)."""
        if position is not None and self.sync_mode == "always":
            self._sync(*position)

    def sync(self) -> None:
        """``fdatasync`` what was appended and not yet synced (the flusher's interval)."""
        with self.lock:
            fd, upto = self.fd, self.written
        if fd is not None and upto > self.synced:
            self._sync(fd, upto)

    def _sync(self, fd: int, upto: int) -> None:
        with self.sync_lock:  # a rotation (which syncs and closes) takes it too
            if self.fd != fd or self.synced >= upto:
                return  # rotated, or another thread's sync covered these bytes (group commit)
            with self.lock:
                reached = self.written
            os.fdatasync(fd)
            self.synced = max(self.synced, reached)

    def _current_fd(self) -> int:
        if self.pid != os.getpid():
            self._become_owner()
        if self.fd is None:
            self.segment += 1
            path = self.folder / f"{self.owner}.{self.segment:08d}.log"
            self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            self.open_segments.append(path)
            self.written = self.synced = 0
        return self.fd

    def after_fork_in_child(self) -> None:
        """In a forked child: fresh locks, and the parent's files closed here, since an
        inherited descriptor would keep the parent's ``flock`` held after the parent dies
        (its journal would not be replayed while the child lives)."""
        self.lock, self.sync_lock = threading.Lock(), threading.Lock()
        for fd in (self.fd, self.lock_fd):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.pid, self.fd, self.lock_fd, self.open_segments = -1, None, None, []

    def _become_owner(self) -> None:
        """Start a fresh owner (first use, or the first use in a forked child: the parent
        keeps its own files and lock)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self.pid = os.getpid()
        self.owner = f"{socket.gethostname()}-{self.pid}-{time.time_ns()}"
        self.lock_fd = os.open(self.folder / f"{self.owner}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self.lock_fd, fcntl.LOCK_EX)
        self.fd, self.segment, self.open_segments = None, 0, []

    # --- flushing -------------------------------------------------------------------------
    def rotate(self) -> list[Path]:
        """Close the current segment; return the segments closed since the last rotation
        (they hold every record appended so far and not yet discarded)."""
        with self.sync_lock, self.lock:
            if self.pid != os.getpid():
                return []
            if self.fd is not None:
                fd, self.fd = self.fd, None
                if self.sync_mode == "always" or self.written > self.synced:
                    os.fdatasync(fd)
                os.close(fd)
            closed, self.open_segments = self.open_segments, []
            return closed

    @staticmethod
    def discard(segments: list[Path]) -> None:
        """Delete segments whose records are stored."""
        for path in segments:
            path.unlink(missing_ok=True)

    def clear(self) -> None:
        """Drop this process's segments (tests: buffers discarded without writing)."""
        self.discard(self.rotate())

    # --- replay ---------------------------------------------------------------------------
    def replay_dead(self, write: Callable[[list[Any]], object]) -> int:
        """Write the records of every dead owner's segments with ``write`` (idempotent),
        then delete them; returns the records replayed. A ``write`` that raises leaves the
        owner's files for a later replay."""
        if not self.folder.is_dir():
            return 0
        replayed = 0
        for lock_path in sorted(self.folder.glob("*.lock")):
            if lock_path.stem == self.owner:
                continue
            replayed += self._replay_owner(lock_path, write)
        return replayed

    def _replay_owner(self, lock_path: Path, write: Callable[[list[Any]], object]) -> int:
        try:
            fd = os.open(lock_path, os.O_RDWR)
        except FileNotFoundError:  # replayed by another process meanwhile
            return 0
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # its owner lives (or another process replays it)
                return 0
            segments = sorted(self.folder.glob(f"{lock_path.stem}.*.log"))
            records = list(_read(segments))
            if records:
                write(records)
                logger.warning(
                    "journal %s: replayed %d records of dead process %s",
                    self.folder.name,
                    len(records),
                    lock_path.stem,
                )
            self.discard(segments)
            lock_path.unlink(missing_ok=True)
            return len(records)
        finally:
            os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _read(segments: list[Path]) -> Iterator[Any]:
    for path in segments:
        try:
            lines = path.read_bytes().splitlines()
        except FileNotFoundError:
            continue
        for line in lines:
            try:
                yield json.loads(line)
            except ValueError:  # a line torn by a machine crash: never acknowledged whole
                logger.warning("journal %s: skipped a torn line", path.name)
