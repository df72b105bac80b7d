"""The Redis broker: kombu's transport, with one Redis client per channel instead of per call.

kombu's Redis channel builds a new ``redis.Redis`` object (on the channel's shared connection
pool) for every publish and acknowledgement. With redis-py 8 building one registers its
~170 response callbacks in a case-insensitive dict: about a tenth of the web process's CPU for
a recommendation request. A client is only a handle on the pool (each command borrows a
connection from it and gives it back; the pool handles forks and threads), so the channel
keeps one, rebuilt whenever kombu replaces the pool (after a reconnection).

``config.celery`` points the ``redis://`` and ``rediss://`` schemes at this transport.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kombu.transport import redis


class Channel(redis.Channel):
    _sync_client: Any = None

    @contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        if client:
            yield client
            return
        cached = self._sync_client
        if cached is None or cached.connection_pool is not self.pool:
            cached = self._sync_client = self._create_client()
        yield cached


class Transport(redis.Transport):
    Channel = Channel
