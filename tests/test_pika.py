"""RabbitMQ failures through pika, against the broker of tests/servers.sh.

Every failure is produced for real on the broker: a passive declare of a missing
queue (404), a declaration that contradicts the existing queue (406), a user without
permissions (403), a missing virtual host (530), a mandatory publish nobody can route
and a publish a full queue refuses under publisher confirms, a closed port, a wrong
password, a connection an operator closes (``rabbitmqctl close_all_connections``), a
consumer callback that raises, and a consumer that rejects a message into a
dead-letter queue. contrib's ``PikaInstrumentor`` and ours are both installed, as
``otel-errors[pika]`` would have them.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pika
import pika.exceptions
import pytest
from _rabbitmq import (
    MARKS,
    RABBITMQ_URL,
    RABBITMQCTL,
    REJECTED,
    closed_port,
    code_of,
    errors_count,
    instrumented,
)
from opentelemetry.instrumentation.pika import PikaInstrumentor

from otel_errors._internal.helpers import fail_open
from otel_errors._internal.recording.runtime import get_recorder
from otel_errors.integrations.pika.instrumentor import PikaErrorsInstrumentor

pytestmark = MARKS
VHOST = "otel-errors-test"
DENIED_USER = "otel-errors-denied"


def url(*, credentials: str = "guest:guest", vhost: str = "%2F") -> str:
    rest = RABBITMQ_URL.split("@", 1)[1].rsplit("/", 1)[0]
    return f"amqp://{credentials}@{rest}/{vhost}"


def rabbitmqctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [RABBITMQCTL, *args], check=False, capture_output=True, text=True, timeout=60
    )


@pytest.fixture(scope="module", autouse=True)
def _instrumented() -> Iterator[None]:
    """Contrib's instrumentation and ours, for the module (channels opened afterwards)."""
    with instrumented(PikaInstrumentor(), PikaErrorsInstrumentor()):
        yield


@pytest.fixture(scope="module")
def broker_setup() -> None:
    """A virtual host of the tests' own (closed by an operator) and a user with no rights."""
    assert RABBITMQCTL, "OTEL_ERRORS_TEST_RABBITMQCTL is not set (written by tests/servers.sh)"
    rabbitmqctl("add_vhost", VHOST)  # fails harmlessly when it exists already
    rabbitmqctl("add_user", DENIED_USER, "denied")  # same
    assert rabbitmqctl("change_password", DENIED_USER, "denied").returncode == 0
    for vhost, user, perms in ((VHOST, "guest", ".*"), ("/", DENIED_USER, "^$")):
        done = rabbitmqctl("set_permissions", "-p", vhost, user, perms, perms, perms)
        assert done.returncode == 0, done.stderr


@pytest.fixture
def connection() -> Iterator[Any]:
    conn = pika.BlockingConnection(pika.URLParameters(url()))
    yield conn
    if conn.is_open:
        conn.close()


@pytest.fixture
def queue_name() -> str:
    return f"otel-errors-test-{uuid.uuid4().hex[:12]}"


def raised_in_span(tracer, produce: Callable[[], Any]) -> BaseException:
    with pytest.raises(Exception) as info, tracer.start_as_current_span("op"):
        produce()
    return info.value


# --- failures raised to the application ---------------------------------------------


def missing_queue(conn: Any, queue: str) -> None:
    conn.channel().queue_declare(queue, passive=True)


def inequivalent_declaration(conn: Any, queue: str) -> None:
    channel = conn.channel()
    channel.queue_declare(queue, auto_delete=True)
    channel.queue_declare(queue, durable=True)


def unroutable_publish(conn: Any, queue: str) -> None:
    channel = conn.channel()
    channel.confirm_delivery()
    channel.basic_publish("amq.direct", f"{queue}-bound-to-nothing", b"lost", mandatory=True)


def refused_by_a_full_queue(conn: Any, queue: str) -> None:
    channel = conn.channel()
    channel.confirm_delivery()
    arguments = {"x-max-length": 0, "x-overflow": "reject-publish"}
    channel.queue_declare(queue, auto_delete=True, arguments=arguments)
    channel.basic_publish("", queue, b"refused")


@pytest.mark.parametrize(
    "case",
    [
        (missing_queue, "pika.exceptions.ChannelClosedByBroker", "MQ-005"),
        (inequivalent_declaration, "pika.exceptions.ChannelClosedByBroker", "MQ-006"),
        (unroutable_publish, "pika.exceptions.UnroutableError", "MQ-007"),
        (refused_by_a_full_queue, "pika.exceptions.NackError", "MQ-008"),
    ],
    ids=["404-not-found", "406-precondition-failed", "unroutable", "nacked"],
)
def test_channel_failures_get_their_codes(case, connection, tracer, spans, metric_points):
    """Each failure the broker reports on a channel is recorded once, with its code."""
    produce, exception_type, code = case
    queue = f"otel-errors-test-{uuid.uuid4().hex[:12]}"
    before = errors_count(metric_points, code)
    exc = raised_in_span(tracer, lambda: produce(connection, queue))
    event = spans.only_exception()
    assert event["exception.type"] == exception_type
    assert event["error.code"] == code == code_of(exc)
    assert event["error.handled"] is False
    assert spans.named("op").attributes["error.type"] == code
    assert errors_count(metric_points, code) == before + 1


@pytest.mark.usefixtures("broker_setup")
def test_channel_access_refused(tracer, spans, queue_name):
    """A user without permissions on the vhost: 403 ACCESS_REFUSED closes the channel."""
    conn = pika.BlockingConnection(pika.URLParameters(url(credentials=f"{DENIED_USER}:denied")))
    try:
        exc = raised_in_span(tracer, lambda: conn.channel().queue_declare(queue_name))
    finally:
        if conn.is_open:
            conn.close()
    assert getattr(exc, "reply_code", None) == 403
    assert spans.only_exception()["error.code"] == "MQ-004"


@pytest.mark.parametrize(
    ("parameters", "exception_type", "code"),
    [
        (
            lambda: pika.ConnectionParameters("127.0.0.1", closed_port(), connection_attempts=1),
            "pika.exceptions.AMQPConnectionError",
            "MQ-001",
        ),
        (
            lambda: pika.URLParameters(url(credentials="guest:wrong")),
            "pika.exceptions.ProbableAuthenticationError",
            "MQ-003",
        ),
        (
            lambda: pika.URLParameters(url(vhost="otel-errors-no-such-vhost")),
            "pika.exceptions.ProbableAccessDeniedError",
            "MQ-004",
        ),
    ],
    ids=["closed-port", "wrong-password", "missing-vhost"],
)
def test_connection_failures_get_their_codes(parameters, exception_type, code, tracer, spans):
    """Opening a connection fails: nothing listens, the login or the vhost is refused."""
    exc = raised_in_span(tracer, lambda: pika.BlockingConnection(parameters()))
    event = spans.only_exception()
    assert event["exception.type"] == exception_type == f"pika.exceptions.{type(exc).__name__}"
    assert event["error.code"] == code
    assert event["error.handled"] is False


@pytest.mark.usefixtures("broker_setup")
def test_connection_closed_by_the_broker(tracer, spans, metric_points):
    """An operator closes the connection (320 CONNECTION_FORCED): connection lost."""
    conn = pika.BlockingConnection(pika.URLParameters(url(vhost=VHOST)))
    channel = conn.channel()
    closed = rabbitmqctl("close_all_connections", "-p", VHOST, "maintenance")
    assert closed.returncode == 0, closed.stderr
    before = errors_count(metric_points, "MQ-002")
    exc = raised_in_span(tracer, lambda: channel.queue_declare("", exclusive=True))
    assert isinstance(exc, pika.exceptions.ConnectionClosedByBroker)
    assert exc.reply_code == 320
    event = spans.only_exception()
    assert event["error.code"] == "MQ-002"
    assert event["exception.type"] == "pika.exceptions.ConnectionClosedByBroker"
    assert errors_count(metric_points, "MQ-002") == before + 1


# --- consumers -------------------------------------------------------------------------


def consume_one(connection: Any, queue: str, callback: Callable[..., Any]) -> None:
    """Publishes one message to ``queue`` and runs ``callback`` on its delivery."""
    channel = connection.channel()
    channel.basic_publish("", queue, b"work", pika.BasicProperties(message_id="m-1"))

    def once(ch: Any, method: Any, properties: Any, body: bytes) -> None:
        try:
            callback(ch, method, properties, body)
        finally:
            ch.stop_consuming()

    channel.basic_consume(queue, once)
    channel.start_consuming()


def test_consumer_callback_failure_is_recorded_once_on_the_consumer_span(
    connection, queue_name, tracer, spans, metric_points
):
    """A callback that raises: recorded on contrib's consumer span, unhandled, with its code."""
    connection.channel().queue_declare(queue_name, auto_delete=True)
    missing = f"{queue_name}-missing"

    def forward(ch, method, properties, body):
        connection.channel().queue_declare(missing, passive=True)  # 404: a missing queue

    before = errors_count(metric_points, "MQ-005")
    with pytest.raises(pika.exceptions.ChannelClosedByBroker), tracer.start_as_current_span("app"):
        consume_one(connection, queue_name, forward)
    event = spans.only_exception()
    assert event["error.code"] == "MQ-005"
    assert event["error.handled"] is False
    consumer = spans.named(f"{queue_name} receive")
    assert [e.name for e in consumer.events] == ["exception"]
    assert consumer.attributes["error.type"] == "MQ-005"
    assert not consumer.status.is_ok
    assert errors_count(metric_points, "MQ-005") == before + 1


@pytest.fixture
def dead_lettered(connection, queue_name) -> Iterator[tuple[str, str]]:
    """A work queue whose rejected messages go to a dead-letter queue: (work, dead)."""
    channel = connection.channel()
    exchange, dead = f"{queue_name}-dlx", f"{queue_name}-dlq"
    channel.exchange_declare(exchange, "fanout", auto_delete=True)
    channel.queue_declare(dead, auto_delete=False)
    channel.queue_bind(dead, exchange)
    channel.queue_declare(queue_name, arguments={"x-dead-letter-exchange": exchange})
    yield queue_name, dead
    cleanup = connection.channel() if connection.is_open else None
    if cleanup is not None:
        cleanup.queue_delete(queue_name)
        cleanup.queue_delete(dead)
        cleanup.exchange_delete(exchange)


def dead_letters(connection: Any, dead: str) -> list[bytes]:
    channel = connection.channel()
    found = []
    while True:
        method, _, body = channel.basic_get(dead, auto_ack=True)
        if method is None:
            return found
        found.append(body)


REJECTIONS = {
    "nack": lambda ch, tag: ch.basic_nack(delivery_tag=tag, requeue=False),
    "reject": lambda ch, tag: ch.basic_reject(tag, requeue=False),
}


@pytest.mark.parametrize("operation", sorted(REJECTIONS))
def test_message_rejected_without_requeue_is_recorded_on_the_consumer_span(
    operation, connection, dead_lettered, spans, metric_points
):
    """``requeue=False``: MQ-009, handled, on the consumer span; the message is dead-lettered."""
    work, dead = dead_lettered
    before = errors_count(metric_points, "MQ-009")
    consume_one(connection, work, lambda ch, m, p, b: REJECTIONS[operation](ch, m.delivery_tag))
    assert dead_letters(connection, dead) == [b"work"]
    consumer = spans.named(f"{work} receive")
    events = [dict(e.attributes or {}) for e in consumer.events if e.name == "exception"]
    assert len(events) == 1
    event = events[0]
    assert event["exception.type"] == REJECTED
    assert event["error.code"] == "MQ-009"
    assert event["error.handled"] is True
    assert event["messaging.system"] == "rabbitmq"
    assert event["messaging.operation.name"] == operation
    assert event["messaging.rabbitmq.message.delivery_tag"] == 1
    assert f"basic_{operation}(delivery_tag=1" in str(event["exception.message"])
    assert "test_pika.py" in str(event["exception.stacktrace"])  # the consumer's call site
    assert consumer.status.is_unset  # handled: the consumer chose the outcome
    assert errors_count(metric_points, "MQ-009") == before + 1


def test_select_connection_consumer_rejection(connection, dead_lettered, spans, metric_points):
    """The asynchronous adapter (SelectConnection) goes through the same patched channel.

    contrib traces no SelectConnection consumer (it looks for BlockingChannel's consumer
    records), so there is no span to hold the event: the rejection is counted only.
    """
    work, dead = dead_lettered
    before = errors_count(metric_points, "MQ-009")
    connection.channel().basic_publish("", work, b"work")
    seen = []

    def on_message(channel, method, properties, body):
        channel.basic_reject(method.delivery_tag, requeue=False)
        seen.append(body)
        channel.connection.close()

    def on_channel(channel):
        channel.basic_consume(work, on_message)

    def on_open(conn):
        conn.channel(on_open_callback=on_channel)

    select = pika.SelectConnection(
        pika.URLParameters(url()),
        on_open_callback=on_open,
        on_open_error_callback=lambda conn, error: conn.ioloop.stop(),
        on_close_callback=lambda conn, reason: conn.ioloop.stop(),
    )
    timeout = select.ioloop.call_later(10, select.ioloop.stop)
    select.ioloop.start()
    select.ioloop.remove_timeout(timeout)
    select.ioloop.close()
    assert seen == [b"work"]
    assert dead_letters(connection, dead) == [b"work"]
    assert not [s for s in spans.all() if s.name == f"{work} receive"]
    assert errors_count(metric_points, "MQ-009") == before + 1


def test_requeue_and_ack_record_nothing(connection, dead_lettered, spans):
    """A requeued message will be delivered again; an acknowledged one succeeded."""
    work, dead = dead_lettered
    consume_one(connection, work, lambda ch, m, p, b: ch.basic_nack(m.delivery_tag, requeue=True))
    consume_one(connection, work, lambda ch, m, p, b: ch.basic_ack(m.delivery_tag))
    assert spans.exception_events() == []
    assert dead_letters(connection, dead) == []


@pytest.fixture
def broken_recorder(monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("recorder bug")

    monkeypatch.setattr(get_recorder(), "record", explode)
    monkeypatch.setattr(fail_open, "_logged", set())


@pytest.mark.usefixtures("broken_recorder")
def test_fail_open_when_recording_fails(connection, dead_lettered, tracer, queue_name):
    """Our failure never reaches the consumer: the reject works, pika's errors stay pika's."""
    work, dead = dead_lettered
    returned = []

    def reject(ch, method, properties, body):
        returned.append(ch.basic_reject(method.delivery_tag, requeue=False))

    consume_one(connection, work, reject)
    assert returned == [None]
    assert dead_letters(connection, dead) == [b"work"]
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
        missing_queue(connection, f"{queue_name}-missing")
    assert info.value.reply_code == 404


def test_uninstrumented_records_no_rejection(connection, dead_lettered, spans):
    """After uninstrument, a rejected message records nothing (and is still dead-lettered)."""
    work, dead = dead_lettered
    ours = PikaErrorsInstrumentor()
    ours.uninstrument()
    try:
        consume_one(
            connection, work, lambda ch, m, p, b: ch.basic_reject(m.delivery_tag, requeue=False)
        )
    finally:
        ours.instrument()
    assert spans.exception_events() == []
    assert dead_letters(connection, dead) == [b"work"]


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (pika.exceptions.ChannelClosedByBroker(405, "RESOURCE_LOCKED - exclusive"), "MQ-013"),
        (pika.exceptions.ConnectionClosedByBroker(403, "ACCESS_REFUSED"), "MQ-003"),
        (pika.exceptions.ConnectionClosedByBroker(541, "INTERNAL_ERROR"), "MQ-002"),
        (pika.exceptions.StreamLostError("Transport indicated EOF"), "MQ-002"),
        (pika.exceptions.ConnectionBlockedTimeout(), "MQ-010"),
        (pika.exceptions.ConsumerCancelled(), "MQ-011"),
        (pika.exceptions.ChannelWrongStateError("Channel is closed."), "MQ-012"),
        (pika.exceptions.NoFreeChannels(), "MQ-099"),
    ],
)
def test_failures_this_broker_does_not_produce_on_demand(exc, code):
    """Constructed: replies and states the test broker cannot be made to give at will."""
    assert code_of(exc) == code
