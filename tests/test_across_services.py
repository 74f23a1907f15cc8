"""Errors across services: the ``Otel-Errors-*`` wire contract, answered and read, on loopback.

Calling side: requests, httpx (sync and async) and urllib3 read a failed response's
headers from a real peer (``_http_peers.HTTPPeer`` answering raw, scripted header
lines, malformed and oversized ones included), with and without contrib. Answering
side: real Flask and FastAPI servers, with ``OTEL_ERRORS_PROPAGATE_ERRORS`` off (their
answers are the framework's) and on. Chains: a test client (A) calls a Flask service
(B) that calls a scripted peer (C) standing for a payment service that runs
otel_errors; every hop names the origin C, and a failure that begins in B names B.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import aiohttp
import flask
import httpx
import pytest
import requests
import urllib3
import uvicorn
from _http_peers import HTTPPeer
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.flask import FlaskInstrumentor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from opentelemetry.instrumentation.urllib3 import URLLib3Instrumentor
from opentelemetry.trace import SpanKind
from werkzeug.serving import make_server

import otel_errors
from otel_errors._internal.recording import upstream
from otel_errors._internal.recording.error_metrics import MAX_ORIGIN_SERVICES, OTHER_ORIGIN
from otel_errors.integrations.aiohttp.instrumentor import AioHttpClientErrorsInstrumentor
from otel_errors.integrations.flask.instrumentor import FlaskErrorsInstrumentor
from otel_errors.integrations.httpx.instrumentor import HTTPXErrorsInstrumentor
from otel_errors.integrations.requests.instrumentor import RequestsErrorsInstrumentor
from otel_errors.integrations.starlette.instrumentor import StarletteErrorsInstrumentor
from otel_errors.integrations.urllib3.instrumentor import URLLib3ErrorsInstrumentor

TIMEOUT = 5.0
ME = str(trace.get_tracer_provider().resource.attributes["service.name"])  # type: ignore[attr-defined]
"""Our ``service.name``: the SDK's default (``unknown_service:python3``) of the tests' provider."""

PAYMENT_FAILED = [
    (b"Otel-Errors-Code", b"PAY-001"),
    (b"Otel-Errors-Service", b"payments"),
    (b"Otel-Errors-Origin", b"payments"),
    (b"Otel-Errors-Origin-Code", b"PAY-001"),
]
FROM_PAYMENTS = {
    "error.upstream.code": "PAY-001",
    "error.upstream.service": "payments",
    "error.origin.service": "payments",
    "error.origin.code": "PAY-001",
}
ACROSS_KEYS = tuple(FROM_PAYMENTS)

OrderFailed = type(
    "OrderFailed",
    (otel_errors.AppError,),
    {},
    code=otel_errors.ErrorCode("ORD-502", title="Order failed", http_status=502, severity="P2"),
)


@pytest.fixture(scope="module")
def peer() -> Iterator[HTTPPeer]:
    server = HTTPPeer()
    yield server
    server.stop()


# --- clients ---------------------------------------------------------------------------


def _requests(url: str, raise_for_status: bool = False) -> int:
    response = requests.get(url, timeout=TIMEOUT)
    if raise_for_status:
        response.raise_for_status()
    return response.status_code


def _httpx(url: str, raise_for_status: bool = False) -> int:
    with httpx.Client(timeout=TIMEOUT) as client:
        response = client.get(url)
    if raise_for_status:
        response.raise_for_status()
    return response.status_code


def _httpx_async(url: str, raise_for_status: bool = False) -> int:
    async def call() -> int:
        async with httpx.AsyncClient(timeout=TIMEOUT) as client:
            response = await client.get(url)
        if raise_for_status:
            response.raise_for_status()
        return response.status_code

    return asyncio.run(call())


def _urllib3(url: str, raise_for_status: bool = False) -> int:
    assert not raise_for_status, "urllib3 has no raise_for_status"
    with urllib3.PoolManager() as pool:
        return pool.request("GET", url, timeout=TIMEOUT, retries=False).status


def _aiohttp(url: str, raise_for_status: bool = False) -> int:
    async def call() -> int:
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            await response.read()
            if raise_for_status:
                response.raise_for_status()
            return response.status

    return asyncio.run(call())


CLIENTS: dict[str, tuple[Callable[..., int], Any, Any]] = {
    "requests": (_requests, RequestsInstrumentor, RequestsErrorsInstrumentor),
    "httpx": (_httpx, HTTPXClientInstrumentor, HTTPXErrorsInstrumentor),
    "httpx-async": (_httpx_async, HTTPXClientInstrumentor, HTTPXErrorsInstrumentor),
    "urllib3": (_urllib3, URLLib3Instrumentor, URLLib3ErrorsInstrumentor),
    "aiohttp": (_aiohttp, AioHttpClientInstrumentor, AioHttpClientErrorsInstrumentor),
}
RAISING = {
    "requests": requests.HTTPError,
    "httpx": httpx.HTTPStatusError,
    "aiohttp": aiohttp.ClientResponseError,
}


@contextlib.contextmanager
def _instrumented(name: str, *, contrib: bool) -> Iterator[Callable[..., int]]:
    get, contrib_instrumentor, ours = CLIENTS[name]
    ours().instrument()
    if contrib:
        contrib_instrumentor().instrument()
    try:
        yield get
    finally:
        if contrib:
            contrib_instrumentor().uninstrument()
        ours().uninstrument()


@pytest.fixture(params=["with-contrib", "without-contrib"])
def contrib(request) -> bool:
    return bool(request.param == "with-contrib")


@pytest.fixture(params=list(CLIENTS))
def get(request, contrib) -> Iterator[Callable[..., int]]:
    with _instrumented(request.param, contrib=contrib) as call:
        yield call


@pytest.fixture
def in_app(get, tracer) -> Callable[[str], int]:
    """Calls ``url`` with the instrumented client inside an application span."""

    def call(url: str) -> int:
        with tracer.start_as_current_span("app"):
            return get(url)

    return call


def _carrier(spans, contrib: bool):
    """The span that carries the failure: contrib's client span, else the application's."""
    if contrib:
        (span,) = [s for s in spans.all() if s.kind is SpanKind.CLIENT]
        return span
    return spans.named("app")


def _across(attributes: Any) -> dict[str, object]:
    return {k: v for k, v in dict(attributes or {}).items() if k in ACROSS_KEYS}


# --- calling side ----------------------------------------------------------------------


def test_upstream_failure_is_on_the_client_span_and_the_event(get, contrib, peer, spans, tracer):
    """A 503 naming PAY-001 at payments: span and event say so; the local code stays HTTP-503."""
    url = peer.script("pay-503", 503, PAYMENT_FAILED)
    with tracer.start_as_current_span("app"):
        assert get(url) == 503
    event = spans.only_exception()
    assert event["error.code"] == "HTTP-503"
    assert _across(event) == FROM_PAYMENTS
    assert _across(_carrier(spans, contrib).attributes) == FROM_PAYMENTS


def test_fingerprint_includes_the_upstream_code(peer, spans, tracer):
    """One call site failing on two upstream codes: two fingerprints; a plain 503 a third."""
    second = [(b"Otel-Errors-Code", b"PAY-002"), *PAYMENT_FAILED[1:]]
    urls = [
        peer.script("fp-1", 503, PAYMENT_FAILED),
        peer.script("fp-2", 503, second),
        peer.script("fp-3", 503, []),
    ]
    with _instrumented("requests", contrib=True) as get:
        for url in urls:
            with tracer.start_as_current_span("app"):
                get(url)  # one call site for all three
    fingerprints = [e["error.fingerprint"] for e in spans.exception_events()]
    assert len(set(fingerprints)) == 3, fingerprints


def test_an_upstream_without_origin_is_its_own_origin(get, contrib, peer, spans, tracer):
    """A peer naming only its code and itself: the origin is that peer, with its code."""
    url = peer.script("no-origin", 502, PAYMENT_FAILED[:2])
    with tracer.start_as_current_span("app"):
        get(url)
    assert _across(spans.only_exception()) == FROM_PAYMENTS


@pytest.mark.parametrize(
    "case",
    [
        ([], {}),
        ([(b"Otel-Errors-Code", b"pay-001"), *PAYMENT_FAILED[1:]], {}),
        ([(b"Otel-Errors-Code", b"PAY-001 OR 1=1"), *PAYMENT_FAILED[1:]], {}),
        ([(b"Otel-Errors-Code", b"PAY-001" + b"0" * 8000), *PAYMENT_FAILED[1:]], {}),
        ([(b"Otel-Errors-Code", b"P\xc3\x85Y-001"), *PAYMENT_FAILED[1:]], {}),
        ([(b"Otel-Errors-Code", b"PAY-001"), (b"Otel-Errors-Code", b"PAY-002")], {}),
        (
            [
                (b"Otel-Errors-Code", b"PAY-001"),
                (b"Otel-Errors-Service", b"pay ments"),
                (b"Otel-Errors-Origin", b"x" * 65),
                (b"Otel-Errors-Origin-Code", b"\xff\xfe"),
            ],
            {"error.upstream.code": "PAY-001", "error.origin.code": "PAY-001"},
        ),
        (
            [(b"otel-errors-code", b"  PAY-001 "), (b"OTEL-ERRORS-SERVICE", b"payments")],
            FROM_PAYMENTS,
        ),
    ],
    ids=[
        "no-headers", "lower-case-code", "injection", "8-KB-code", "non-ascii",
        "duplicated", "bad-service-names", "any-case-and-spaces",
    ],
)  # fmt: skip
def test_untrusted_headers_are_bounded_and_validated(in_app, contrib, peer, spans, case):
    """Malformed, oversized or duplicated values are dropped; the failure is still recorded."""
    headers, expected = case
    assert in_app(peer.script(str(id(case)), 503, headers)) == 503
    event = spans.only_exception()
    assert event["error.code"] == "HTTP-503"
    assert _across(event) == expected
    assert _across(_carrier(spans, contrib).attributes) == expected


def test_bodies_are_never_read(in_app, contrib, peer, spans):
    """A problem body naming an origin, without headers (or 1 MB of it), changes nothing."""
    problem = b'{"code": "PAY-001", "service": "payments", "origin_service": "payments"}'
    headers = [(b"Content-Type", b"application/problem+json")]
    assert in_app(peer.script("body-only", 503, headers, problem)) == 503
    assert in_app(peer.script("huge-body", 503, headers, b"{" * 1_000_000)) == 503
    assert all(_across(e) == {} for e in spans.exception_events())
    assert all(_across(s.attributes) == {} for s in spans.all())


def test_successes_are_not_read(get, peer, spans, tracer):
    """Headers on a 200 are not a failure: nothing is read, nothing recorded."""
    url = peer.script("ok-with-headers", 200, PAYMENT_FAILED)
    with tracer.start_as_current_span("app"):
        assert get(url) == 200
    assert spans.exception_events() == []
    assert all(_across(s.attributes) == {} for s in spans.all())


@pytest.mark.parametrize("name", list(RAISING))
def test_app_error_raised_from_raise_for_status_keeps_the_origin(name, peer, spans, tracer):
    """``raise OrderFailed() from exc``: the caller's own code, the upstream's origin."""
    url = peer.script("rfs-404", 404, PAYMENT_FAILED)  # 404: not recorded as a response
    with _instrumented(name, contrib=True) as get, tracer.start_as_current_span("app") as span:
        try:
            get(url, raise_for_status=True)
        except RAISING[name] as exc:
            failure = OrderFailed()
            failure.__cause__ = exc
            otel_errors.record_error(failure, handled=False, span=span)
    event = spans.only_exception()
    assert event["error.code"] == "ORD-502"
    assert _across(event) == FROM_PAYMENTS


@pytest.mark.parametrize("name", list(RAISING))
def test_raise_for_status_error_carries_the_upstream(name, peer, spans, tracer):
    """A status error that escapes the application's span is recorded with the upstream."""
    url = peer.script("rfs-409", 409, PAYMENT_FAILED)
    with (
        _instrumented(name, contrib=False) as get,
        pytest.raises(RAISING[name]),
        tracer.start_as_current_span("app"),
    ):
        get(url, raise_for_status=True)
    assert _across(spans.only_exception()) == FROM_PAYMENTS


def test_chain_walk_is_bounded_and_survives_cycles():
    """A cyclic or very long chain ends the search; ``from None`` cuts it."""
    first, second = ValueError("a"), ValueError("b")
    first.__cause__, second.__cause__ = second, first
    assert upstream.carried_by(first) is None
    deep = ValueError("deep")
    upstream.attach(deep, upstream.Upstream("PAY-001", "payments"))
    top: BaseException = deep
    for _ in range(20):
        wrapper = RuntimeError("wrap")
        wrapper.__cause__ = top
        top = wrapper
    assert upstream.carried_by(top) is None
    near = RuntimeError("near")
    near.__context__ = deep
    assert upstream.carried_by(near) == upstream.Upstream("PAY-001", "payments")
    near.__suppress_context__ = True
    assert upstream.carried_by(near) is None


# --- answering side: Flask and FastAPI -------------------------------------------------


def _serve_flask(app: flask.Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.port}"
    server.shutdown()


def _service_b(payments_url: str) -> flask.Flask:
    """Service B: its order endpoints call the payment service (C)."""
    app = flask.Flask("service-b")

    @app.get("/order")
    def order() -> str:
        try:
            requests.get(payments_url, timeout=TIMEOUT).raise_for_status()
        except requests.HTTPError as exc:
            raise OrderFailed from exc
        return "ordered"

    @app.route("/order-bare", methods=["GET", "HEAD"])
    def order_bare() -> str:
        requests.get(payments_url, timeout=TIMEOUT).raise_for_status()
        return "ordered"

    @app.get("/bug")
    def bug() -> str:
        return str(1 // 0)

    @app.get("/ok")
    def ok() -> str:
        return "fine"

    return app


@pytest.fixture
def service_b(peer, contrib) -> Iterator[str]:
    """Service B on a real werkzeug server, its requests calls instrumented, C scripted."""
    app = _service_b(peer.script("payments", 503, PAYMENT_FAILED))
    FlaskErrorsInstrumentor().instrument()
    if contrib:
        FlaskInstrumentor().instrument_app(app)
    try:
        with _instrumented("requests", contrib=contrib):
            yield from _serve_flask(app)
    finally:
        if contrib:
            FlaskInstrumentor().uninstrument_app(app)
        FlaskErrorsInstrumentor().uninstrument()


def _wire(response: requests.Response) -> dict[str, str]:
    """The ``Otel-Errors-*`` headers, names in their documented case (ASGI sends lower case)."""
    return {
        k.title(): v for k, v in response.headers.items() if k.lower().startswith("otel-errors-")
    }


def _plain_get(url: str, **headers: str) -> requests.Response:
    """A request to a service (our client instrumentation only reads what comes back)."""
    return requests.get(url, headers=headers, timeout=TIMEOUT)


def test_propagation_off_changes_no_answer(service_b, spans):
    """By default B's answers carry no Otel-Errors header and no extra problem member."""
    problem = _plain_get(f"{service_b}/order")
    assert problem.status_code == 502
    assert _wire(problem) == {}
    assert not {"service", "origin_service", "origin_code"} & set(problem.json())
    page = _plain_get(f"{service_b}/bug")
    assert (page.status_code, _wire(page)) == (500, {})
    assert _wire(_plain_get(f"{service_b}/ok")) == {}


def test_b_names_c_as_origin_in_problem_and_headers(service_b, spans, use_settings):
    """B answers its own code, itself, and the origin it received from C (body and headers)."""
    use_settings(propagate_errors=True)
    response = _plain_get(f"{service_b}/order")
    assert response.status_code == 502
    wire = {"Otel-Errors-Code": "ORD-502", "Otel-Errors-Service": ME,
            "Otel-Errors-Origin": "payments", "Otel-Errors-Origin-Code": "PAY-001"}  # fmt: skip
    assert _wire(response) == wire
    body = response.json()
    assert (body["code"], body["service"]) == ("ORD-502", ME)
    assert (body["origin_service"], body["origin_code"]) == ("payments", "PAY-001")


def test_framework_500_carries_the_origin_in_headers(service_b, spans, use_settings):
    """Flask's own 500 page (not a problem) still says where the failure began, in headers."""
    use_settings(propagate_errors=True)
    response = _plain_get(f"{service_b}/order-bare", Accept="text/html")
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/html")
    assert _wire(response)["Otel-Errors-Origin"] == "payments"
    assert _wire(response)["Otel-Errors-Code"] == "HTTP-503"
    assert _plain_get(f"{service_b}/order-bare", Accept="text/html").text == response.text
    head = requests.head(f"{service_b}/order-bare", timeout=TIMEOUT)
    assert (head.status_code, head.content) == (500, b"")
    assert _wire(head)["Otel-Errors-Origin-Code"] == "PAY-001"


def test_failure_beginning_in_b_names_b(service_b, spans, use_settings):
    """A bug in B: B is the origin, with its own code; a success carries nothing."""
    use_settings(propagate_errors=True)
    response = _plain_get(f"{service_b}/bug")
    assert response.status_code == 500
    wire = _wire(response)
    assert (wire["Otel-Errors-Service"], wire["Otel-Errors-Origin"]) == (ME, ME)
    assert wire["Otel-Errors-Code"] == wire["Otel-Errors-Origin-Code"] != "UNKNOWN"
    assert _wire(_plain_get(f"{service_b}/ok")) == {}


def test_a_b_c_every_hop_names_the_origin(service_b, spans, tracer, use_settings, contrib):
    """A calls B calls C: B's and A's events both say origin payments; A sees B as upstream."""
    use_settings(propagate_errors=True)
    with tracer.start_as_current_span("a"):
        assert requests.get(f"{service_b}/order", timeout=TIMEOUT).status_code == 502
    by_code = _events_by_code(spans, 3 if contrib else 2)
    # B's client call to C (only B's contrib client span records it), B's own failure,
    # A's client call to B.
    if contrib:
        assert _across(by_code["HTTP-503"]) == FROM_PAYMENTS
    assert _across(by_code["ORD-502"]) == FROM_PAYMENTS
    at_a = by_code["HTTP-502"]
    assert _across(at_a) == {
        "error.upstream.code": "ORD-502",
        "error.upstream.service": ME,
        "error.origin.service": "payments",
        "error.origin.code": "PAY-001",
    }


def _events_by_code(spans, count: int) -> dict[object, dict[str, object]]:
    """The exception events by code, once ``count`` arrived (servers end spans after answering)."""
    deadline = time.monotonic() + 5
    while len(spans.exception_events()) < count:
        assert time.monotonic() < deadline, spans.exception_events()
        time.sleep(0.01)
    return {e["error.code"]: e for e in spans.exception_events()}


def test_calling_side_reads_even_when_answering_is_off(service_b, spans, tracer, contrib):
    """Reading is always on; B answering nothing (default) leaves A's event without origin."""
    with tracer.start_as_current_span("a"):
        requests.get(f"{service_b}/order", timeout=TIMEOUT)
    by_code = _events_by_code(spans, 3 if contrib else 2)
    assert _across(by_code["ORD-502"]) == FROM_PAYMENTS  # B read C
    assert _across(by_code["HTTP-502"]) == {}  # A got nothing from B


def _fastapi_app(payments_url: str) -> FastAPI:
    app = FastAPI()

    @app.get("/order")
    def order() -> str:
        try:
            requests.get(payments_url, timeout=TIMEOUT).raise_for_status()
        except requests.HTTPError as exc:
            raise OrderFailed from exc
        return "ordered"

    @app.get("/bug")
    async def bug() -> int:
        return 1 // 0

    return app


@pytest.fixture
def fastapi_b(peer, contrib) -> Iterator[str]:
    app = _fastapi_app(peer.script("payments-fastapi", 503, PAYMENT_FAILED))
    StarletteErrorsInstrumentor().instrument()
    if contrib:
        FastAPIInstrumentor.instrument_app(app)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="critical", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    try:
        with _instrumented("requests", contrib=False):
            thread.start()
            deadline = time.monotonic() + 10
            while not server.started:
                assert time.monotonic() < deadline, "uvicorn did not start"
                time.sleep(0.01)
            yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        if contrib:
            FastAPIInstrumentor.uninstrument_app(app)
        StarletteErrorsInstrumentor().uninstrument()


def test_fastapi_answers_the_origin_only_when_asked(fastapi_b, spans, use_settings):
    """FastAPI: off, answers unchanged; on, problem members and headers name the origin."""
    off_problem, off_page = _plain_get(f"{fastapi_b}/order"), _plain_get(f"{fastapi_b}/bug")
    assert (off_problem.status_code, _wire(off_problem)) == (502, {})
    assert "origin_service" not in off_problem.json()
    assert (off_page.status_code, off_page.text, _wire(off_page)) == (
        500, "Internal Server Error", {}
    )  # fmt: skip
    use_settings(propagate_errors=True)
    problem = _plain_get(f"{fastapi_b}/order")
    assert _wire(problem)["Otel-Errors-Origin"] == "payments"
    assert problem.json()["origin_code"] == "PAY-001"
    page = _plain_get(f"{fastapi_b}/bug")
    assert (page.status_code, page.text) == (500, "Internal Server Error")
    assert _wire(page)["Otel-Errors-Origin"] == ME  # once: a repeated header would read "x, x"
    assert _wire(problem)["Otel-Errors-Origin-Code"] == "PAY-001"


# --- the errors counter ----------------------------------------------------------------


def test_errors_counter_carries_a_bounded_origin(peer, tracer, metric_points, use_settings):
    """errors_total gets error.origin.service; a peer inventing names cannot grow the series."""
    use_settings()  # a fresh counter state: no origin seen yet
    with _instrumented("requests", contrib=False) as get:
        for number in range(MAX_ORIGIN_SERVICES + 6):
            service = f"inventing-{number}".encode()
            headers = [(b"Otel-Errors-Code", b"PAY-001"), (b"Otel-Errors-Service", service)]
            with tracer.start_as_current_span("app"):
                get(peer.script(f"inventing-{number}", 503, headers))
    origins = {
        str(attributes.get("error.origin.service"))
        for attributes, _ in metric_points("errors")
        if attributes["error.code"] == "HTTP-503"
    }
    invented = {o for o in origins if o.startswith("inventing-")}
    assert len(invented) == MAX_ORIGIN_SERVICES
    assert OTHER_ORIGIN in origins


def test_local_failures_have_no_origin_on_the_counter(tracer, metric_points, use_settings):
    """A failure that began here keeps the series it had: no origin attribute."""
    use_settings()
    with tracer.start_as_current_span("app") as span:
        otel_errors.record_error(KeyError("local"), span=span, code="BUG-005")
    assert all(
        "error.origin.service" not in attributes
        for attributes, _ in metric_points("errors")
        if attributes["error.code"] == "BUG-005"
    )
