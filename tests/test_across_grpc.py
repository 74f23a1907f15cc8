"""Errors across services over gRPC: trailing metadata read from, and answered by, real servers.

A sync grpcio server on 127.0.0.1 stands for a peer: its servicer sets the trailing
metadata a service running otel_errors would send (or malformed, oversized, repeated
entries, or none: a peer without otel_errors) and aborts with ``UNAVAILABLE``. The
client's failure is recorded with the contrib client interceptor (on its client span)
and without it (on the application's span it escapes). Answering side: an orders
server with our instrumentor, off (grpcio's own answers) and on (``otel-errors-*``
entries, the origin payments for a failure raised from its call to payments).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent import futures
from typing import Any

import grpc
import grpc.aio
import pytest
from opentelemetry.trace import SpanKind

import otel_errors
from otel_errors.integrations.grpc.answering import abort_metadata
from otel_errors.integrations.grpc.instrumentor import GrpcErrorsInstrumentor

METHOD = "/shop.Payments/Charge"
GOOD = (
    ("otel-errors-code", "PAY-001"),
    ("otel-errors-service", "payments"),
    ("otel-errors-origin", "payments"),
    ("otel-errors-origin-code", "PAY-001"),
)
FROM_PAYMENTS = {
    "error.upstream.code": "PAY-001",
    "error.upstream.service": "payments",
    "error.origin.service": "payments",
    "error.origin.code": "PAY-001",
}
SCENARIOS: dict[bytes, tuple[tuple[str, str], ...]] = {
    b"good": GOOD,
    b"none": (),
    b"lower-case": (("otel-errors-code", "pay-001"), *GOOD[1:]),
    b"oversized": (("otel-errors-code", "PAY-001" + "0" * 4000), *GOOD[1:]),
    b"repeated": (*GOOD, ("otel-errors-code", "PAY-002")),
    b"bad-service": (GOOD[0], ("otel-errors-service", "pay ments")),
}
EXPECTED = {
    b"good": FROM_PAYMENTS,
    b"none": {},
    b"lower-case": {},
    b"oversized": {},
    b"repeated": {},
    b"bad-service": {"error.upstream.code": "PAY-001", "error.origin.code": "PAY-001"},
}

OrderFailed = type(
    "OrderFailed",
    (otel_errors.AppError,),
    {},
    code=otel_errors.ErrorCode("ORD-503", title="Order failed", http_status=503, severity="P2"),
)


def _charge(request: bytes, context: grpc.ServicerContext) -> bytes:
    context.set_trailing_metadata(SCENARIOS[request])
    context.abort(grpc.StatusCode.UNAVAILABLE, "payments down")
    return b""  # abort raises; never reached


def _identity(data: bytes) -> bytes:
    return data


@pytest.fixture(scope="module")
def address() -> Iterator[str]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    handler = grpc.unary_unary_rpc_method_handler(
        _charge, request_deserializer=_identity, response_serializer=_identity
    )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler("shop.Payments", {"Charge": handler}),)
    )
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop(grace=None)


@contextlib.contextmanager
def _client_interceptor(*, contrib: bool) -> Iterator[None]:
    if not contrib:
        yield
        return
    instrumentation = pytest.importorskip("opentelemetry.instrumentation.grpc")
    instrumentor = instrumentation.GrpcInstrumentorClient()
    instrumentor.instrument()
    try:
        yield
    finally:
        instrumentor.uninstrument()


def _across(attributes: object) -> dict[str, object]:
    return {k: v for k, v in dict(attributes or {}).items() if k in FROM_PAYMENTS}  # type: ignore[call-overload]


@pytest.mark.parametrize("contrib", [True, False], ids=["with-contrib", "without-contrib"])
@pytest.mark.parametrize("scenario", list(SCENARIOS), ids=[s.decode() for s in SCENARIOS])
def test_trailing_metadata_is_read_bounded_and_validated(address, spans, tracer, contrib, scenario):
    """Well-formed metadata reaches the event (and client span); anything else is dropped."""
    with (
        _client_interceptor(contrib=contrib),
        grpc.insecure_channel(address) as channel,
        pytest.raises(grpc.RpcError),
        tracer.start_as_current_span("app"),
    ):
        channel.unary_unary(METHOD, _identity, _identity)(scenario, timeout=5)
    event = spans.only_exception()
    assert event["error.code"] == "RPC-014"
    assert _across(event) == EXPECTED[scenario]
    if contrib:
        (client,) = [s for s in spans.all() if s.kind is SpanKind.CLIENT]
        assert _across(client.attributes) == EXPECTED[scenario]


def test_an_app_error_raised_from_the_call_keeps_the_origin(address, spans, tracer):
    """``raise OrderFailed() from rpc_error``: the caller's code, the origin payments."""
    with (
        _client_interceptor(contrib=True),
        grpc.insecure_channel(address) as channel,
        tracer.start_as_current_span("app") as span,
    ):
        try:
            channel.unary_unary(METHOD, _identity, _identity)(b"good", timeout=5)
        except grpc.RpcError as exc:
            failure = OrderFailed()
            failure.__cause__ = exc
            otel_errors.record_error(failure, handled=False, span=span)
    by_code = {e["error.code"]: e for e in spans.exception_events()}
    assert _across(by_code["ORD-503"]) == FROM_PAYMENTS
    assert _across(by_code["RPC-014"]) == FROM_PAYMENTS


def test_an_unsampled_failure_counts_its_origin(address, spans, metric_points):
    """Head sampling drops the span, not the origin: errors_total names payments."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

    def from_payments() -> int:
        return sum(
            value
            for attributes, value in metric_points("errors")
            if attributes.get("error.code") == "RPC-014"
            and attributes.get("error.origin.service") == "payments"
        )

    before = from_payments()
    unsampled = TracerProvider(sampler=ALWAYS_OFF).get_tracer("tests")
    with grpc.insecure_channel(address) as channel, unsampled.start_as_current_span("dropped"):
        try:
            channel.unary_unary(METHOD, _identity, _identity)(b"good", timeout=5)
        except grpc.RpcError as exc:
            otel_errors.record_error(exc, handled=False)
    assert from_payments() - before == 1
    assert spans.all() == []


def test_the_asyncio_client_reads_it_too(address, spans, tracer):
    """grpc.aio's AioRpcError carries the same trailing metadata."""

    async def call() -> None:
        async with grpc.aio.insecure_channel(address) as channel:
            await channel.unary_unary(METHOD, _identity, _identity)(b"good", timeout=5)

    with pytest.raises(grpc.RpcError), tracer.start_as_current_span("app"):
        asyncio.run(call())
    assert _across(spans.only_exception()) == FROM_PAYMENTS


# --- answering side: a sync server with our instrumentor -------------------------------


@contextlib.contextmanager
def _orders_server(method: str, handler: grpc.RpcMethodHandler) -> Iterator[str]:
    """A sync grpcio server on 127.0.0.1 serving ``shop.Orders/<method>``; its address."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler("shop.Orders", {method: handler}),)
    )
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(grace=None)


@pytest.fixture
def orders(address) -> Iterator[str]:
    """An orders service: ``fail`` raises a bug, ``charge`` calls payments and fails from it."""

    def place(request: bytes, context: grpc.ServicerContext) -> bytes:
        if request == b"bug":
            return str(1 // 0).encode()
        if request == b"not-found":
            context.set_trailing_metadata((("mine", "kept"),))
            context.abort(grpc.StatusCode.NOT_FOUND, "no such order")
        with grpc.insecure_channel(address) as channel:
            try:
                channel.unary_unary(METHOD, _identity, _identity)(b"good", timeout=5)
            except grpc.RpcError as exc:
                if request == b"charge-abort":
                    context.abort(grpc.StatusCode.UNAVAILABLE, "payments down")
                raise OrderFailed from exc
        return b"placed"

    instrumentor = GrpcErrorsInstrumentor()
    instrumentor.instrument()
    handler = grpc.unary_unary_rpc_method_handler(
        place, request_deserializer=_identity, response_serializer=_identity
    )
    try:
        with _orders_server("Place", handler) as orders_address:
            yield orders_address
    finally:
        instrumentor.uninstrument()


def _answer(address: str, request: bytes) -> tuple[grpc.StatusCode, dict[str, str]]:
    with grpc.insecure_channel(address) as channel, pytest.raises(grpc.RpcError) as info:
        channel.unary_unary("/shop.Orders/Place", _identity, _identity)(request, timeout=5)
    failure: Any = info.value
    return failure.code(), {item.key: item.value for item in failure.trailing_metadata() or ()}


def _ours(metadata: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in metadata.items() if k.startswith("otel-errors-")}


def test_answers_are_grpcio_s_own_by_default(orders, spans):
    """Off: the same statuses, the servicer's own trailing metadata and nothing else."""
    assert _answer(orders, b"bug") == (grpc.StatusCode.UNKNOWN, {})
    assert _answer(orders, b"not-found") == (grpc.StatusCode.NOT_FOUND, {"mine": "kept"})
    assert _answer(orders, b"charge") == (grpc.StatusCode.UNKNOWN, {})
    assert _answer(orders, b"charge-abort") == (grpc.StatusCode.UNAVAILABLE, {})


def test_a_failure_names_its_origin_in_trailing_metadata(orders, spans, use_settings):
    """On: a bug names this service; an abort keeps the servicer's entries; C stays the origin."""
    use_settings(propagate_errors=True)
    status, bug = _answer(orders, b"bug")
    assert status is grpc.StatusCode.UNKNOWN
    assert bug["otel-errors-origin"] == bug["otel-errors-service"]
    assert bug["otel-errors-code"] == bug["otel-errors-origin-code"] == "BUG-005"
    status, aborted = _answer(orders, b"not-found")
    assert (status, aborted["mine"], aborted["otel-errors-code"]) == (
        grpc.StatusCode.NOT_FOUND, "kept", "RPC-005"
    )  # fmt: skip
    status, charged = _answer(orders, b"charge")
    assert _ours(charged) == {
        "otel-errors-code": "ORD-503",
        "otel-errors-service": bug["otel-errors-service"],
        "otel-errors-origin": "payments",
        "otel-errors-origin-code": "PAY-001",
    }
    status, charge_aborted = _answer(orders, b"charge-abort")
    assert status is grpc.StatusCode.UNAVAILABLE
    assert _ours(charge_aborted) == {**_ours(charged), "otel-errors-code": "RPC-014"}


# --- answering side: a grpc.aio server ----------------------------------------------

AIO_REGISTRATIONS = (
    "add_generic_rpc_handlers",
    "handlers=",
    "add_registered_method_handlers",
    "with contrib's interceptor",
)


async def _aio_place(address: str, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    if request == b"bug":
        return str(1 // 0).encode()
    if request == b"not-found":  # grpc sends what set_trailing_metadata set
        context.set_trailing_metadata((("mine", "kept"),))
        await context.abort(grpc.StatusCode.NOT_FOUND, "no such order")
    if request.startswith(b"charge"):
        async with grpc.aio.insecure_channel(address) as channel:
            try:
                await channel.unary_unary(METHOD)(b"good", timeout=5)
            except grpc.RpcError as exc:
                if request == b"charge-abort":  # grpc sends the metadata given to abort
                    await context.abort(
                        grpc.StatusCode.UNAVAILABLE, "payments down", (("mine", "given"),)
                    )
                raise OrderFailed from exc
    context.set_trailing_metadata((("mine", "kept"),))
    return b"placed"


def _aio_server(address: str, registration: str) -> grpc.aio.Server:
    """An asyncio orders server, its handler registered the way ``registration`` names."""

    async def place(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return await _aio_place(address, request, context)

    handler = grpc.unary_unary_rpc_method_handler(place)
    generic = grpc.method_handlers_generic_handler("shop.Orders", {"Place": handler})
    if registration == "handlers=":
        return grpc.aio.server(handlers=[generic])
    if registration == "with contrib's interceptor":
        contrib = pytest.importorskip("opentelemetry.instrumentation.grpc")
        server = grpc.aio.server(interceptors=[contrib.aio_server_interceptor()])
    else:
        server = grpc.aio.server()
    if registration != "add_registered_method_handlers":
        server.add_generic_rpc_handlers((generic,))
    else:
        server.add_registered_method_handlers("shop.Orders", {"Place": handler})
    return server


def _aio_answers(address: str, registration: str) -> dict[bytes, tuple[Any, dict[str, str]]]:
    """Each request's status and trailing metadata from a grpc.aio server on 127.0.0.1."""

    async def run() -> dict[bytes, tuple[Any, dict[str, str]]]:
        server = _aio_server(address, registration)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        answers = {}
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                place = channel.unary_unary("/shop.Orders/Place")
                for request in (b"ok", b"bug", b"not-found", b"charge", b"charge-abort"):
                    call = place(request, timeout=5)
                    with contextlib.suppress(grpc.RpcError):
                        await call
                    answers[request] = (await call.code(), dict(await call.trailing_metadata()))
        finally:
            await server.stop(None)
        return answers

    instrumentor = GrpcErrorsInstrumentor()
    instrumentor.instrument()
    try:
        return asyncio.run(run())
    finally:
        instrumentor.uninstrument()


@pytest.mark.parametrize("registration", AIO_REGISTRATIONS)
def test_aio_answers_are_grpc_s_own_by_default(address, spans, registration):
    """Off: a grpc.aio server answers exactly as without otel_errors."""
    answers = _aio_answers(address, registration)
    assert answers == {
        b"ok": (grpc.StatusCode.OK, {"mine": "kept"}),
        b"bug": (grpc.StatusCode.UNKNOWN, {}),
        b"not-found": (grpc.StatusCode.NOT_FOUND, {"mine": "kept"}),
        b"charge": (grpc.StatusCode.UNKNOWN, {}),
        b"charge-abort": (grpc.StatusCode.UNAVAILABLE, {"mine": "given"}),
    }


@pytest.mark.parametrize("registration", AIO_REGISTRATIONS)
def test_aio_failures_name_their_origin_in_trailing_metadata(
    address, spans, use_settings, registration
):
    """On: a failure, raised or aborted, names this service or payments; successes are grpc's."""
    use_settings(propagate_errors=True)
    answers = _aio_answers(address, registration)
    assert answers[b"ok"] == (grpc.StatusCode.OK, {"mine": "kept"})
    status, bug = answers[b"bug"]
    assert status is grpc.StatusCode.UNKNOWN
    assert bug["otel-errors-origin"] == bug["otel-errors-service"]
    assert bug["otel-errors-code"] == bug["otel-errors-origin-code"] == "BUG-005"
    status, charged = answers[b"charge"]
    assert status is grpc.StatusCode.UNKNOWN
    assert _ours(charged) == {
        "otel-errors-code": "ORD-503",
        "otel-errors-service": bug["otel-errors-service"],
        "otel-errors-origin": "payments",
        "otel-errors-origin-code": "PAY-001",
    }
    status, not_found = answers[b"not-found"]
    assert (status, not_found["mine"]) == (grpc.StatusCode.NOT_FOUND, "kept")
    assert _ours(not_found) == {
        "otel-errors-code": "RPC-005",
        "otel-errors-service": bug["otel-errors-service"],
        "otel-errors-origin": bug["otel-errors-service"],
        "otel-errors-origin-code": "RPC-005",
    }
    status, charge_aborted = answers[b"charge-abort"]
    assert (status, charge_aborted["mine"]) == (grpc.StatusCode.UNAVAILABLE, "given")
    assert _ours(charge_aborted) == {**_ours(charged), "otel-errors-code": "RPC-014"}


def test_a_failure_adding_our_abort_entries_leaves_grpc_s_answer(use_settings, caplog):
    """The abort's metadata goes out as given when ours cannot be added; the failure is counted.

    grpc's own context never fails to list its trailing metadata: an object whose
    ``trailing_metadata`` raises stands for a broken one (no real peer can do this).
    """
    use_settings(propagate_errors=True)

    class BrokenContext:
        def trailing_metadata(self) -> Any:
            raise RuntimeError("broken context")

    given = (("mine", "given"),)
    assert abort_metadata(BrokenContext(), grpc.StatusCode.NOT_FOUND, ()) == ()
    assert abort_metadata(BrokenContext(), grpc.StatusCode.OK, given) is given
    assert "internal failure in grpc.trailing_metadata" in caplog.text


# --- answering side: response streams ------------------------------------------------

STREAM_REQUESTS = (b"bug", b"charge", b"not-found")


def _sync_track(address: str) -> Callable[[bytes, grpc.ServicerContext], Iterator[bytes]]:
    def track(request: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:
        yield b"packed"  # the stream has begun when the failure comes
        if request == b"bug":
            yield str(1 // 0).encode()
        if request == b"not-found":
            context.abort(grpc.StatusCode.NOT_FOUND, "no such order")
        with grpc.insecure_channel(address) as channel:
            try:
                channel.unary_unary(METHOD, _identity, _identity)(b"good", timeout=5)
            except grpc.RpcError as exc:
                raise OrderFailed from exc

    return track


def _aio_track(address: str) -> Callable[[bytes, Any], AsyncIterator[bytes]]:
    async def track(request: bytes, context: Any) -> AsyncIterator[bytes]:
        yield b"packed"
        if request == b"bug":
            yield str(1 // 0).encode()
        if request == b"not-found":
            await context.abort(grpc.StatusCode.NOT_FOUND, "no such order")
        async with grpc.aio.insecure_channel(address) as channel:
            try:
                await channel.unary_unary(METHOD)(b"good", timeout=5)
            except grpc.RpcError as exc:
                raise OrderFailed from exc

    return track


def _sync_stream_answers(address: str) -> dict[bytes, tuple[Any, dict[str, str]]]:
    """Each request's status and trailing metadata from a sync streaming server."""
    handler = grpc.unary_stream_rpc_method_handler(
        _sync_track(address), request_deserializer=_identity, response_serializer=_identity
    )
    answers = {}
    with _orders_server("Track", handler) as orders, grpc.insecure_channel(orders) as channel:
        track = channel.unary_stream("/shop.Orders/Track", _identity, _identity)
        for request in STREAM_REQUESTS:
            call = track(request, timeout=5)
            with pytest.raises(grpc.RpcError):
                assert list(call) == [b"packed"]
            answers[request] = (call.code(), dict(call.trailing_metadata() or ()))
    return answers


def _aio_stream_answers(address: str) -> dict[bytes, tuple[Any, dict[str, str]]]:
    """Each request's status and trailing metadata from a grpc.aio streaming server."""

    async def run() -> dict[bytes, tuple[Any, dict[str, str]]]:
        server = grpc.aio.server()
        handler = grpc.unary_stream_rpc_method_handler(_aio_track(address))
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler("shop.Orders", {"Track": handler}),)
        )
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        answers = {}
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                track = channel.unary_stream("/shop.Orders/Track")
                for request in STREAM_REQUESTS:
                    call = track(request, timeout=5)
                    received = []
                    with contextlib.suppress(grpc.RpcError):
                        received = [response async for response in call]
                    assert received in ([], [b"packed"])  # the error ends the stream early
                    answers[request] = (await call.code(), dict(await call.trailing_metadata()))
        finally:
            await server.stop(None)
        return answers

    return asyncio.run(run())


@pytest.mark.parametrize("answers", [_sync_stream_answers, _aio_stream_answers])
def test_a_failing_response_stream_names_its_origin(address, spans, use_settings, answers):
    """Off: grpc's own answers. On: a failure while the stream is iterated names its origin."""
    instrumentor = GrpcErrorsInstrumentor()
    instrumentor.instrument()
    try:
        off = answers(address)
        use_settings(propagate_errors=True)
        on = answers(address)
    finally:
        instrumentor.uninstrument()
    assert {request: status for request, (status, _) in off.items()} == {
        b"bug": grpc.StatusCode.UNKNOWN,
        b"charge": grpc.StatusCode.UNKNOWN,
        b"not-found": grpc.StatusCode.NOT_FOUND,
    }
    assert not any(_ours(metadata) for _, metadata in off.values())
    assert {request: status for request, (status, _) in on.items()} == {
        request: status for request, (status, _) in off.items()
    }
    service = on[b"bug"][1]["otel-errors-service"]
    assert _ours(on[b"bug"][1]) == {
        "otel-errors-code": "BUG-005",
        "otel-errors-service": service,
        "otel-errors-origin": service,
        "otel-errors-origin-code": "BUG-005",
    }
    assert _ours(on[b"charge"][1]) == {
        "otel-errors-code": "ORD-503",
        "otel-errors-service": service,
        "otel-errors-origin": "payments",
        "otel-errors-origin-code": "PAY-001",
    }
    assert _ours(on[b"not-found"][1])["otel-errors-code"] == "RPC-005"


def test_a_non_blocking_servicer_gets_its_callback_when_propagating(use_settings):
    """An experimental non-blocking servicer of grpcio takes a third argument: passed on."""

    def track(request: bytes, context: grpc.ServicerContext, send: Callable[..., None]) -> None:
        send(b"packed")
        send(None)  # the end of the stream

    track.experimental_non_blocking = True  # type: ignore[attr-defined]
    use_settings(propagate_errors=True)
    instrumentor = GrpcErrorsInstrumentor()
    instrumentor.instrument()
    handler = grpc.unary_stream_rpc_method_handler(
        track, request_deserializer=_identity, response_serializer=_identity
    )
    try:
        with _orders_server("Track", handler) as orders, grpc.insecure_channel(orders) as channel:
            call = channel.unary_stream("/shop.Orders/Track", _identity, _identity)(b"x", timeout=5)
            assert (list(call), call.code()) == ([b"packed"], grpc.StatusCode.OK)
    finally:
        instrumentor.uninstrument()
