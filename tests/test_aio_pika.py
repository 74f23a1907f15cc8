"""RabbitMQ failures through aio-pika (aiormq), against the broker of tests/servers.sh.

The same broker as tests/test_pika.py, the same codes (the aio_pika unit maps
aiormq's classes to the pika unit's ``MQ-*`` codes). Produced for real: a passive
declare of a missing queue (404), a contradicting declaration (406), a publish a full
queue refuses under publisher confirms, a closed port, a wrong password, a consumer
callback that raises, and consumers rejecting messages into a dead-letter queue.
contrib's ``AioPikaInstrumentor`` and ours are both installed.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import aio_pika
import aiormq.exceptions
import pytest
from _rabbitmq import (
    MARKS,
    RABBITMQ_URL,
    REJECTED,
    closed_port,
    code_of,
    errors_count,
    instrumented,
)
from opentelemetry.instrumentation.aio_pika import AioPikaInstrumentor

from otel_errors._internal.helpers import fail_open
from otel_errors._internal.recording.runtime import get_recorder
from otel_errors.integrations.aio_pika.instrumentor import AioPikaErrorsInstrumentor

pytestmark = MARKS
WAIT = 10.0


def new_name() -> str:
    return f"otel-errors-aio-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="module", autouse=True)
def _instrumented() -> Iterator[None]:
    """Contrib's instrumentation and ours, for the module (channels opened afterwards)."""
    with instrumented(AioPikaInstrumentor(), AioPikaErrorsInstrumentor()):
        yield


def run(scenario: Callable[[Any], Awaitable[Any]]) -> Any:
    """Runs ``scenario(connection)`` on a fresh event loop with a fresh connection."""

    async def main() -> Any:
        connection = await aio_pika.connect(RABBITMQ_URL)
        try:
            return await asyncio.wait_for(scenario(connection), WAIT)
        finally:
            await connection.close()

    return asyncio.run(main())


async def missing_queue(connection: Any) -> None:
    channel = await connection.channel()
    await channel.declare_queue(new_name(), passive=True)


async def inequivalent_declaration(connection: Any) -> None:
    channel = await connection.channel()
    name = new_name()
    await channel.declare_queue(name, auto_delete=True)
    await channel.declare_queue(name, durable=True)


async def refused_by_a_full_queue(connection: Any) -> None:
    channel = await connection.channel()  # publisher confirms are on by default
    name = new_name()
    arguments = {"x-max-length": 0, "x-overflow": "reject-publish"}
    await channel.declare_queue(name, auto_delete=True, arguments=arguments)
    await channel.default_exchange.publish(aio_pika.Message(b"refused"), name)


@pytest.mark.parametrize(
    "case",
    [
        (missing_queue, "aiormq.exceptions.ChannelNotFoundEntity", "MQ-005"),
        (inequivalent_declaration, "aiormq.exceptions.ChannelPreconditionFailed", "MQ-006"),
        (refused_by_a_full_queue, "aiormq.exceptions.DeliveryError", "MQ-008"),
    ],
    ids=["404-not-found", "406-precondition-failed", "nacked"],
)
def test_channel_failures_get_their_codes(case, tracer, spans, metric_points):
    """Each failure the broker reports is recorded once, with the pika unit's code."""
    produce, exception_type, code = case
    before = errors_count(metric_points, code)

    async def scenario(connection):
        with tracer.start_as_current_span("op"):
            await produce(connection)

    with pytest.raises(Exception) as info:
        run(scenario)
    event = spans.only_exception()
    assert event["exception.type"] == exception_type
    assert event["error.code"] == code == code_of(info.value)
    assert event["error.handled"] is False
    assert errors_count(metric_points, code) == before + 1


@pytest.mark.parametrize(
    ("target", "code"),
    [
        (lambda: f"amqp://guest:guest@127.0.0.1:{closed_port()}/", "MQ-001"),
        (lambda: RABBITMQ_URL.replace("guest:guest", "guest:wrong"), "MQ-003"),
    ],
    ids=["closed-port", "wrong-password"],
)
def test_connection_failures_get_their_codes(target, code, tracer, spans):
    """Nothing listens, or the login is refused; not the generic NET-005 of ConnectionError."""

    async def scenario():
        with tracer.start_as_current_span("op"):
            await aio_pika.connect(target())

    with pytest.raises(aiormq.exceptions.AMQPConnectionError):
        asyncio.run(scenario())
    assert spans.only_exception()["error.code"] == code


async def consume_one(
    connection: Any, queue_name: str, callback: Callable[[Any], Awaitable[None]]
) -> None:
    """Publishes one message to ``queue_name`` and runs ``callback`` on its delivery."""
    channel = await connection.channel()
    queue = await channel.get_queue(queue_name)
    done = asyncio.get_running_loop().create_future()

    async def once(message):
        try:
            await callback(message)
        finally:
            if not done.done():
                done.set_result(None)

    tag = await queue.consume(once)
    await channel.default_exchange.publish(aio_pika.Message(b"work"), queue_name)
    await done
    await asyncio.sleep(0.1)  # contrib ends its span after the callback returns or raises
    await queue.cancel(tag)


async def dead_lettered(connection: Any) -> tuple[str, str]:
    """A work queue whose rejected messages go to a dead-letter queue: (work, dead)."""
    channel = await connection.channel()
    work = new_name()
    exchange = await channel.declare_exchange(f"{work}-dlx", "fanout", auto_delete=True)
    dead = await channel.declare_queue(f"{work}-dlq", auto_delete=False)
    await dead.bind(exchange)
    arguments = {"x-dead-letter-exchange": exchange.name}
    await channel.declare_queue(work, arguments=arguments)
    return work, dead.name


async def dead_letters(connection: Any, work: str, dead: str) -> list[bytes]:
    """The messages in the dead-letter queue; both queues are deleted."""
    channel = await connection.channel()
    queue = await channel.get_queue(dead)
    found = []
    while (message := await queue.get(fail=False, no_ack=True)) is not None:
        found.append(message.body)
    await queue.delete(if_unused=False, if_empty=False)
    await channel.queue_delete(work)
    return found


REJECTIONS = {
    "reject": lambda message: message.reject(),  # aio-pika's default: requeue=False
    "nack": lambda message: message.nack(requeue=False),
}


@pytest.mark.parametrize("operation", sorted(REJECTIONS))
def test_message_rejected_without_requeue_is_recorded_on_the_consumer_span(
    operation, spans, metric_points
):
    """reject()/nack(requeue=False): MQ-009, handled, on the consumer span; dead-lettered."""
    before = errors_count(metric_points, "MQ-009")

    async def scenario(connection):
        work, dead = await dead_lettered(connection)
        await consume_one(connection, work, REJECTIONS[operation])
        return work, await dead_letters(connection, work, dead)

    work, letters = run(scenario)
    assert letters == [b"work"]
    consumer = spans.named(f"{work} receive")
    events = [dict(e.attributes or {}) for e in consumer.events if e.name == "exception"]
    assert len(events) == 1
    assert events[0]["exception.type"] == REJECTED
    assert events[0]["error.code"] == "MQ-009"
    assert events[0]["error.handled"] is True
    assert events[0]["messaging.operation.name"] == operation
    assert consumer.status.is_unset
    assert errors_count(metric_points, "MQ-009") == before + 1


def test_failing_process_block_records_the_error_and_the_rejection(spans):
    """``async with message.process()`` that raises: the exception (unhandled) and MQ-009."""

    async def fail(message):
        async with message.process():
            raise aiormq.exceptions.ChannelNotFoundEntity("NOT_FOUND - no queue 'next'")

    async def scenario(connection):
        work, dead = await dead_lettered(connection)
        await consume_one(connection, work, fail)
        return work, await dead_letters(connection, work, dead)

    work, letters = run(scenario)
    assert letters == [b"work"]
    consumer = spans.named(f"{work} receive")
    events = [dict(e.attributes or {}) for e in consumer.events if e.name == "exception"]
    assert [(e["error.code"], e["error.handled"]) for e in events] == [
        ("MQ-009", True),
        ("MQ-005", False),
    ]
    assert consumer.attributes["error.type"] == "MQ-005"


def test_requeue_and_ack_record_nothing(spans):
    """A requeued message will be delivered again; an acknowledged one succeeded."""

    async def scenario(connection):
        work, dead = await dead_lettered(connection)
        await consume_one(connection, work, lambda m: m.nack(requeue=True))
        await consume_one(connection, work, lambda m: m.ack())
        return await dead_letters(connection, work, dead)

    assert run(scenario) == []
    assert spans.exception_events() == []


def test_fail_open_when_recording_fails(monkeypatch):
    """Our failure never reaches the consumer: the reject works and returns None."""

    def explode(*args, **kwargs):
        raise RuntimeError("recorder bug")

    monkeypatch.setattr(get_recorder(), "record", explode)
    monkeypatch.setattr(fail_open, "_logged", set())
    returned = []

    async def reject(message):
        returned.append(await message.reject())

    async def scenario(connection):
        work, dead = await dead_lettered(connection)
        await consume_one(connection, work, reject)
        return await dead_letters(connection, work, dead)

    assert run(scenario) == [b"work"]
    assert returned == [None]


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (aiormq.exceptions.ConnectionClosed(320, "CONNECTION_FORCED - bye"), "MQ-002"),
        (aiormq.exceptions.ConnectionNotAllowed("NOT_ALLOWED - vhost"), "MQ-004"),
        (aiormq.exceptions.ChannelAccessRefused("ACCESS_REFUSED"), "MQ-004"),
        (aiormq.exceptions.ChannelLockedResource("RESOURCE_LOCKED"), "MQ-013"),
        (aiormq.exceptions.ChannelInvalidStateError("closed"), "MQ-012"),
    ],
)
def test_failures_this_broker_does_not_produce_on_demand(exc, code):
    """Constructed: an operator's close is seen by aiormq's reader task, not by the caller."""
    assert code_of(exc) == code
