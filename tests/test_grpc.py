"""gRPC: a failed call's status picks its code, against a real grpcio server on 127.0.0.1.

The server serves one generic method (bytes in, bytes out: no generated stubs) that
aborts with the status named in the request, raises, or sleeps past the client's
deadline; a ``grpc.aio`` server does the same for the asyncio servicer's abort.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from concurrent import futures

import grpc
import grpc.aio
import pytest
from opentelemetry.trace import SpanKind

from otel_errors._internal.recording.runtime import current
from otel_errors.integrations.grpc.rules import STATUS_NUMBERS
from otel_errors.integrations.process_hooks.instrumentor import ProcessHooksErrorsInstrumentor

METHOD = "/shop.Inventory/Reserve"
SLEEP = b"SLEEP"
RAISE = b"RAISE"


def _reserve(request: bytes, context: grpc.ServicerContext) -> bytes:
    if request == SLEEP:
        time.sleep(2)
        return b"late"
    if request == RAISE:
        raise ValueError("quantity must be positive")
    if request == b"OK":
        return b"reserved"
    context.abort(grpc.StatusCode[request.decode()], f"cannot reserve: {request.decode()}")
    return b""  # abort raises; never reached


def _identity(data: bytes) -> bytes:
    return data


def _handlers(behavior) -> tuple[grpc.GenericRpcHandler, ...]:
    handler = grpc.unary_unary_rpc_method_handler(
        behavior, request_deserializer=_identity, response_serializer=_identity
    )
    return (grpc.method_handlers_generic_handler("shop.Inventory", {"Reserve": handler}),)


@contextlib.contextmanager
def _serving() -> Iterator[str]:
    """A sync server on a free loopback port (built after instrumenting, for contrib)."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    try:
        server.add_generic_rpc_handlers(_handlers(_reserve))
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(grace=None)


@contextlib.contextmanager
def _instrumented(*instrumentors) -> Iterator[None]:
    for instrumentor in instrumentors:
        instrumentor.instrument()
    try:
        yield
    finally:
        for instrumentor in reversed(instrumentors):
            instrumentor.uninstrument()


def _wait_for_events(spans, count: int, timeout: float = 5.0) -> None:
    """Waits until ``count`` exception events ended on spans (the server records after replying)."""
    deadline = time.monotonic() + timeout
    while len(spans.exception_events()) < count:
        assert time.monotonic() < deadline, spans.exception_events()
        time.sleep(0.01)


@pytest.fixture(scope="module")
def address() -> Iterator[str]:
    with _serving() as served:
        yield served


@pytest.fixture
def call(address) -> Iterator[grpc.UnaryUnaryMultiCallable]:
    with grpc.insecure_channel(address) as channel:
        yield channel.unary_unary(
            METHOD, request_serializer=_identity, response_deserializer=_identity
        )


def _failure(call, request: bytes, timeout: float = 5.0) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        call(request, timeout=timeout)
    return info.value


@pytest.mark.parametrize("status", sorted(STATUS_NUMBERS))
def test_each_status_gets_the_code_numbered_after_it(call, status, tracer, spans):
    """An aborted call is recorded with RPC-<status number>, its category and the status."""
    with pytest.raises(grpc.RpcError), tracer.start_as_current_span("reserve"):
        call(status.encode(), timeout=5)
    event = spans.only_exception()
    assert event["error.code"] == f"RPC-{STATUS_NUMBERS[status]:03d}"
    assert event["rpc.grpc.status_code"] == STATUS_NUMBERS[status]
    entry = current().registry.catalog[str(event["error.code"])]
    retryable = status in {"UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "ABORTED"}
    assert (entry.retryable, event["error.retryable"]) == (retryable, retryable)
    transient = retryable or status == "CANCELLED"  # a cancel is not retried by us
    assert entry.category == ("transient" if transient else "permanent")


def test_a_deadline_is_exceeded_on_the_client(call):
    """The client's own deadline (no server status) is DEADLINE_EXCEEDED: RPC-004."""
    error = _failure(call, SLEEP, timeout=0.2)
    assert current().registry.classifier.classify(error).error.code == "RPC-004"


def test_an_unreachable_server_is_unavailable():
    """A refused connection arrives as UNAVAILABLE: RPC-014, retryable."""
    with grpc.insecure_channel("127.0.0.1:1") as channel:
        call = channel.unary_unary(METHOD, request_serializer=_identity)
        error = _failure(call, b"OK", timeout=2)
    entry = current().registry.classifier.classify(error).error
    assert (entry.code, entry.retryable) == ("RPC-014", True)


def test_the_asyncio_client_is_classified_the_same(address):
    """grpc.aio's AioRpcError carries its status the same way."""

    async def fail() -> BaseException:
        async with grpc.aio.insecure_channel(address) as channel:
            call = channel.unary_unary(
                METHOD, request_serializer=_identity, response_deserializer=_identity
            )
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await call(b"RESOURCE_EXHAUSTED", timeout=5)
            return info.value

    error = asyncio.run(fail())
    assert current().registry.classifier.classify(error).error.code == "RPC-008"


class _Odd(grpc.RpcError):
    def __init__(self, code: object) -> None:
        self._code = code

    def code(self) -> object:
        if isinstance(self._code, Exception):
            raise self._code
        return self._code


@pytest.mark.parametrize("code", [None, "UNAVAILABLE", grpc.StatusCode.OK, RuntimeError("gone")])
def test_an_rpc_error_without_a_usable_status_falls_back(code):
    """No status, a string, OK or a code() that raises: RPC-100, and no failure of ours."""
    assert current().registry.classifier.classify(_Odd(code)).error.code == "RPC-100"


def test_rule_codes_are_catalogued():
    """Every code the status rule can return exists in the shipped catalogue."""
    for number in STATUS_NUMBERS.values():
        assert f"RPC-{number:03d}" in current().registry.catalog


def test_with_the_contrib_instrumentation_each_failure_is_recorded_once(spans):
    """Contrib client and server interceptors record the failure; each span once, coded."""
    contrib = pytest.importorskip("opentelemetry.instrumentation.grpc")
    with (
        _instrumented(contrib.GrpcInstrumentorClient(), contrib.GrpcInstrumentorServer()),
        _serving() as served,
        grpc.insecure_channel(served) as channel,
    ):
        call = channel.unary_unary(
            METHOD, request_serializer=_identity, response_deserializer=_identity
        )
        _failure(call, b"UNAVAILABLE")
        spans.wait_for_kind(SpanKind.SERVER)
        spans.wait_for_kind(SpanKind.CLIENT)
    client_events = [
        dict(e.attributes or {})
        for s in spans.all()
        if s.kind is SpanKind.CLIENT
        for e in s.events
        if e.name == "exception"
    ]
    assert len(client_events) == 1, client_events
    assert client_events[0]["error.code"] == "RPC-014"
    assert client_events[0]["rpc.grpc.status_code"] == 14
    per_span = [sum(e.name == "exception" for e in s.events) for s in spans.all() if s.events]
    assert all(count == 1 for count in per_span), per_span
    (server_event,) = [
        dict(e.attributes or {}) for s in spans.all() if s.kind is SpanKind.SERVER for e in s.events
    ]
    # The servicer's abort: grpcio raises a bare Exception, coded by the status it carries.
    assert server_event["exception.type"] == "Exception"
    assert (server_event["error.code"], server_event["error.kind"]) == ("RPC-014", "operational")
    assert server_event["rpc.grpc.status_code"] == 14


def test_a_servicer_exception_is_recorded_once_per_trace_with_contrib_and_logging(spans):
    """Raised in a servicer: the server span holds it once; grpcio's log of it adds nothing."""
    contrib = pytest.importorskip("opentelemetry.instrumentation.grpc")
    instrumentors = (
        ProcessHooksErrorsInstrumentor(),
        contrib.GrpcInstrumentorClient(),
        contrib.GrpcInstrumentorServer(),
    )
    with _instrumented(*instrumentors), _serving() as served, grpc.insecure_channel(served) as ch:
        call = ch.unary_unary(METHOD, request_serializer=_identity, response_deserializer=_identity)
        assert _failure(call, RAISE).code() is grpc.StatusCode.UNKNOWN
        spans.wait_for_kind(SpanKind.SERVER)
        spans.wait_for_kind(SpanKind.CLIENT)
    events = {
        s.kind: [dict(e.attributes or {}) for e in s.events if e.name == "exception"]
        for s in spans.all()
        if s.events
    }
    assert set(events) == {SpanKind.SERVER, SpanKind.CLIENT}, [s.name for s in spans.all()]
    (server_event,) = events[SpanKind.SERVER]
    expected = current().registry.classifier.classify(ValueError()).error.code
    assert (server_event["exception.type"], server_event["error.code"]) == ("ValueError", expected)
    assert server_event["error.handled"] is False
    (client_event,) = events[SpanKind.CLIENT]
    assert (client_event["error.code"], client_event["rpc.grpc.status_code"]) == ("RPC-002", 2)


def test_without_contrib_grpcio_s_log_of_a_servicer_exception_records_it_once(address, spans):
    """No server span: grpcio's log of the exception is recorded, unhandled (the call failed)."""
    with (
        _instrumented(ProcessHooksErrorsInstrumentor()),
        grpc.insecure_channel(address) as channel,
    ):
        call = channel.unary_unary(
            METHOD, request_serializer=_identity, response_deserializer=_identity
        )
        _failure(call, RAISE)
        _wait_for_events(spans, 1)
    event = spans.only_exception()
    assert event["exception.type"] == "ValueError"
    assert event["error.code"] == current().registry.classifier.classify(ValueError()).error.code
    assert event["error.handled"] is False


async def _reserve_async(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    await context.abort(grpc.StatusCode[request.decode()], f"cannot reserve: {request.decode()}")
    return b""  # abort raises; never reached


@pytest.mark.parametrize("status", ["NOT_FOUND", "UNAVAILABLE"])
def test_an_asyncio_servicer_s_abort_is_coded_by_its_status(spans, status):
    """grpc.aio's AbortError, recorded by the contrib aio server interceptor, gets the status."""
    contrib = pytest.importorskip("opentelemetry.instrumentation.grpc")

    async def serve_and_call() -> grpc.StatusCode:
        server = grpc.aio.server()
        server.add_generic_rpc_handlers(_handlers(_reserve_async))
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                call = channel.unary_unary(
                    METHOD, request_serializer=_identity, response_deserializer=_identity
                )
                with pytest.raises(grpc.aio.AioRpcError) as info:
                    await call(status.encode(), timeout=5)
                return info.value.code()
        finally:
            await server.stop(grace=None)

    with _instrumented(contrib.GrpcAioInstrumentorServer()):
        assert asyncio.run(serve_and_call()).name == status
    spans.wait_for_kind(SpanKind.SERVER)
    event = spans.only_exception()
    assert event["exception.type"] == "grpc._cython.cygrpc.AbortError"
    assert event["error.code"] == f"RPC-{STATUS_NUMBERS[status]:03d}"
    assert event["rpc.grpc.status_code"] == STATUS_NUMBERS[status]


def test_an_abort_error_without_a_readable_status_falls_back():
    """An AbortError that passed through no abort frame naming a status: RPC-100."""

    def abort(code: object) -> None:
        assert code is not None
        raise grpc.aio.AbortError

    with pytest.raises(grpc.aio.AbortError) as info:
        abort("NOT_FOUND")
    assert current().registry.classifier.classify(info.value).error.code == "RPC-100"


def test_a_bare_exception_elsewhere_is_not_taken_for_an_abort(tracer, spans):
    """Only an Exception raised in grpcio's abort reads as a status."""
    code = grpc.StatusCode.NOT_FOUND  # a local named like abort's argument

    def abort() -> None:
        assert code
        raise Exception

    with pytest.raises(Exception) as info, tracer.start_as_current_span("work"):
        abort()
    assert type(info.value) is Exception
    event = spans.only_exception()
    assert event["error.code"] != "RPC-005"
    assert "rpc.grpc.status_code" not in event
