"""Worker start-up options: serving-only Redis workers do not emulate acks."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from config.celery import configure_serving_only_worker


@pytest.mark.parametrize(
    ("queues", "broker", "expected"),
    [
        (["serving"], "redis://127.0.0.1:6379/0", False),
        ("serving", "redis://127.0.0.1:6379/0", False),
        (["serving", "training"], "redis://127.0.0.1:6379/0", True),
        (["training"], "redis://127.0.0.1:6379/0", True),
        (None, "redis://127.0.0.1:6379/0", True),
        (["serving"], "filesystem://", True),
    ],
)
def test_only_serving_only_redis_workers_drop_ack_emulation(queues, broker, expected):
    conf = SimpleNamespace(broker_url=broker, broker_transport_options={"visibility_timeout": 9})
    configure_serving_only_worker(conf=conf, options={"queues": queues})
    assert conf.broker_transport_options.get("ack_emulation", True) is expected
    assert conf.broker_transport_options["visibility_timeout"] == 9
