"""The serving queue is consumed without acknowledgement, by whichever worker consumes it."""

from __future__ import annotations

from kombu import Connection, Consumer, Queue

from config.celery import SERVING_QUEUE, app


def test_the_serving_queue_is_declared_without_acknowledgement():
    queues = {queue.name: queue for queue in app.conf.task_queues}
    assert queues["serving"].no_ack is True
    assert not queues["training"].no_ack and not queues["default"].no_ack


def test_a_consumer_of_several_queues_leaves_only_serving_messages_unacknowledged():
    """As Celery's task consumer does (no ``no_ack`` of its own), each queue's setting holds:
    a serving message is never tracked as unacknowledged, a training one is."""
    training = Queue("training-test")
    with Connection("memory://") as connection:
        channel = connection.channel()
        received = []
        consumer = Consumer(
            channel, queues=[SERVING_QUEUE, training], callbacks=[lambda b, m: received.append(m)]
        )
        consumer.consume()
        producer = connection.Producer(channel)
        for queue in (SERVING_QUEUE, training):
            producer.publish({"q": queue.name}, routing_key=queue.name, declare=[queue])
        for _ in range(2):
            connection.drain_events(timeout=1)
        unacked = {m.payload["q"] for m in channel.qos._delivered.values()}
        assert {m.payload["q"] for m in received} == {"serving", "training-test"}
        assert unacked == {"training-test"}
