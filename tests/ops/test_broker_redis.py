"""The Redis broker transport keeps one client per channel, on the channel's current pool."""

from __future__ import annotations

import pytest
from django.conf import settings
from kombu import Connection

from ops import broker_redis

pytestmark = pytest.mark.skipif(
    not settings.CELERY_BROKER_URL.startswith("redis"), reason="needs the Redis broker"
)


def test_a_channel_reuses_its_client_until_the_pool_changes():
    with Connection(settings.CELERY_BROKER_URL) as connection:
        assert isinstance(connection.transport, broker_redis.Transport)
        channel = connection.default_channel
        with channel.conn_or_acquire() as first, channel.conn_or_acquire() as second:
            assert first is second and first.connection_pool is channel.pool
        channel._pool = None  # what kombu does when it drops its connections
        with channel.conn_or_acquire() as third:
            assert third is not first and third.connection_pool is channel.pool
        given = object()
        with channel.conn_or_acquire(given) as passed:
            assert passed is given


def test_messages_travel_through_it():
    with Connection(settings.CELERY_BROKER_URL) as connection:
        queue = connection.SimpleQueue("splitlab-test-broker-redis")
        try:
            for n in range(3):
                queue.put({"n": n})
            received = []
            for _ in range(3):
                message = queue.get(timeout=5)
                received.append(message.payload["n"])
                message.ack()
            assert received == [0, 1, 2]
        finally:
            queue.clear()
            queue.close()
