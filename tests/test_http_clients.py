"""HTTP clients: requests, httpx (sync and async), urllib3 and aiohttp, against real peers.

Every failure is produced for real on 127.0.0.1 (see ``_http_peers``): refused and
reset connections, stalled answers, a full accept queue (connect timeout), an
untrusted certificate, redirect loops, broken encodings, error statuses with
``Retry-After``. DNS failures are the exception: resolving a name needs a
resolver, and these tests use no network beyond loopback, so those exceptions are
built the way each library builds them (same classes, same nesting).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import httpcore
import httpx
import pytest
import requests
import requests.adapters
import urllib3
from _http_peers import HTTPPeer, closed_port, full_backlog, tls_peer
from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from opentelemetry.instrumentation.urllib3 import URLLib3Instrumentor
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.trace import SpanKind

import otel_errors
from otel_errors._internal.helpers import fail_open
from otel_errors._internal.recording.runtime import get_recorder
from otel_errors.integrations import _http_client as http_client
from otel_errors.integrations._http_client import (
    HTTPErrorResponse,
    public_url,
    retry_after_seconds,
)
from otel_errors.integrations.aiohttp.instrumentor import AioHttpClientErrorsInstrumentor
from otel_errors.integrations.httpx.instrumentor import HTTPXErrorsInstrumentor
from otel_errors.integrations.requests.instrumentor import RequestsErrorsInstrumentor
from otel_errors.integrations.urllib3.instrumentor import URLLib3ErrorsInstrumentor

TIMEOUT = 5.0
SHORT = 0.3
"""Client timeout for the stalling peer: it never answers, so any short value works."""


@pytest.fixture(scope="module")
def peer() -> Iterator[HTTPPeer]:
    server = HTTPPeer()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def tls() -> Iterator[HTTPPeer]:
    server = tls_peer()
    yield server
    server.stop()


# --- one driver per library: the same calls, each library's own API ------------------


@dataclass(frozen=True)
class Outcome:
    """What the application got back from a call."""

    status: int
    body: str
    response: Any


def _requests_get(url: str, *, raise_for_status: bool = False, **options: Any) -> Outcome:
    with requests.Session() as session:
        response = session.get(url, timeout=options.get("timeout", TIMEOUT))
        if raise_for_status:
            response.raise_for_status()
        return Outcome(response.status_code, response.text, response)


def _httpx_get(url: str, *, raise_for_status: bool = False, **options: Any) -> Outcome:
    with httpx.Client(timeout=options.get("timeout", TIMEOUT)) as client:
        response = client.get(url, follow_redirects=True)
        if raise_for_status:
            response.raise_for_status()
        return Outcome(response.status_code, response.text, response)


def _httpx_async_get(url: str, *, raise_for_status: bool = False, **options: Any) -> Outcome:
    async def call() -> Outcome:
        async with httpx.AsyncClient(timeout=options.get("timeout", TIMEOUT)) as client:
            response = await client.get(url, follow_redirects=True)
            if raise_for_status:
                response.raise_for_status()
            return Outcome(response.status_code, response.text, response)

    return asyncio.run(call())


def _urllib3_get(url: str, *, raise_for_status: bool = False, **options: Any) -> Outcome:
    assert not raise_for_status, "urllib3 has no raise_for_status"
    retries = options.get("retries", urllib3.Retry(total=0, redirect=3, read=False))
    with urllib3.PoolManager() as pool:
        response = pool.request(
            "GET", url, timeout=options.get("timeout", TIMEOUT), retries=retries
        )
        return Outcome(response.status, response.data.decode(), response)


def _aiohttp_get(url: str, *, raise_for_status: bool = False, **options: Any) -> Outcome:
    async def call() -> Outcome:
        phase = options.get("timeout", TIMEOUT)
        timeout = aiohttp.ClientTimeout(total=TIMEOUT, sock_connect=phase, sock_read=phase)
        session_raises = options.get("session_raise_for_status", False)
        async with (
            aiohttp.ClientSession(timeout=timeout, raise_for_status=session_raises) as session,
            session.get(url) as response,
        ):
            body = await response.text()
            if raise_for_status:
                response.raise_for_status()
            return Outcome(response.status, body, response)

    return asyncio.run(call())


@dataclass(frozen=True)
class Library:
    """A client library, its contrib instrumentation and ours."""

    name: str
    get: Callable[..., Outcome]
    contrib: Callable[[], Any]
    ours: Callable[[], Any]
    status_error: type[BaseException] | None


LIBRARIES = {
    "requests": Library(
        "requests",
        _requests_get,
        RequestsInstrumentor,
        RequestsErrorsInstrumentor,
        requests.HTTPError,
    ),
    "httpx": Library(
        "httpx", _httpx_get, HTTPXClientInstrumentor, HTTPXErrorsInstrumentor, httpx.HTTPStatusError
    ),
    "httpx-async": Library(
        "httpx-async",
        _httpx_async_get,
        HTTPXClientInstrumentor,
        HTTPXErrorsInstrumentor,
        httpx.HTTPStatusError,
    ),
    "urllib3": Library(
        "urllib3", _urllib3_get, URLLib3Instrumentor, URLLib3ErrorsInstrumentor, None
    ),
    "aiohttp": Library(
        "aiohttp",
        _aiohttp_get,
        AioHttpClientInstrumentor,
        AioHttpClientErrorsInstrumentor,
        aiohttp.ClientResponseError,
    ),
}
WITH_RAISE_FOR_STATUS = [name for name, lib in LIBRARIES.items() if lib.status_error]


@dataclass(frozen=True)
class Setup:
    """An instrumented library in a test: with or without contrib."""

    library: Library
    contrib: bool

    def get(self, url: str, **options: Any) -> Outcome:
        return self.library.get(url, **options)


@contextlib.contextmanager
def instrumented(name: str, *, contrib: bool) -> Iterator[Setup]:
    """Our instrumentor for library ``name``, with contrib's when ``contrib``; undone after."""
    library = LIBRARIES[name]
    library.ours().instrument()
    if contrib:
        library.contrib().instrument()
    try:
        yield Setup(library, contrib)
    finally:
        if contrib:
            library.contrib().uninstrument()
        library.ours().uninstrument()


@pytest.fixture(params=list(LIBRARIES))
def library_name(request) -> str:
    return request.param


@pytest.fixture(params=["with-contrib", "without-contrib"])
def client(request, library_name) -> Iterator[Setup]:
    with instrumented(library_name, contrib=request.param == "with-contrib") as setup:
        yield setup


@pytest.fixture
def in_app(client, peer, tracer) -> Callable[..., Outcome]:
    """Calls a path of the peer with the instrumented client, inside an application span."""

    def call(path: str, **options: Any) -> Outcome:
        with tracer.start_as_current_span("app"):
            return client.get(peer.url + path, **options)

    return call


def _recording_span(spans, setup: Setup):
    """The span that must carry the error: contrib's client span, else the app's."""
    if setup.contrib:
        clients = [s for s in spans.all() if s.kind is SpanKind.CLIENT]
        assert len(clients) == 1, [s.name for s in spans.all()]
        return clients[0]
    return spans.named("app")


def _events(span) -> list[dict[str, object]]:
    return [dict(e.attributes or {}) for e in span.events if e.name == "exception"]


# --- error responses -------------------------------------------------------------------


def test_error_response_is_recorded_once_on_the_client_span(client, peer, spans, tracer):
    """A 503 is recorded once, on contrib's client span or else the app's, with Retry-After."""
    with tracer.start_as_current_span("app"):
        outcome = client.get(f"{peer.url}/status/503?retry_after=7&token=secret")
    assert (outcome.status, outcome.body) == (503, "status body")
    event = spans.only_exception()
    assert _events(_recording_span(spans, client)) == [event]
    assert event["exception.type"] == "otel_errors.HTTPErrorResponse"
    assert event["error.code"] == "HTTP-503"
    assert event["error.retryable"] is True
    assert event["error.category"] == "transient"
    assert event["error.handled"] is False
    assert event["error.retry_after"] == 7.0
    assert event["http.response.status_code"] == 503
    assert event["http.request.method"] == "GET"
    assert event["url.full"] == f"{peer.url}/status/503"
    assert event["exception.message"] == f"503 Service Unavailable from GET {peer.url}/status/503"
    assert _recording_span(spans, client).attributes["error.type"] == "HTTP-503"


@pytest.mark.parametrize(
    "case",
    [(429, "HTTP-429", True), (500, "HTTP-500", False), (502, "HTTP-502", True),
     (504, "HTTP-504", True), (507, "HTTP-5000", False)],
    ids=lambda case: str(case[0]),
)  # fmt: skip
def test_each_error_status_gets_its_code(in_app, spans, case):
    """Default error statuses map to per-status codes with HTTP retry semantics."""
    status, code, retryable = case
    assert in_app(f"/status/{status}").status == status
    event = spans.only_exception()
    assert (event["error.code"], event["error.retryable"]) == (code, retryable)
    assert "error.retry_after" not in event


def test_success_and_client_errors_are_not_recorded(client, peer, spans, tracer):
    """200 and 404 are not in the default error statuses: nothing is recorded."""
    with tracer.start_as_current_span("app"):
        assert client.get(f"{peer.url}/status/200").status == 200
        assert client.get(f"{peer.url}/status/404").status == 404
    assert spans.exception_events() == []
    assert all("error.type" not in (s.attributes or {}) for s in spans.all())


def test_error_statuses_follow_the_setting(client, peer, spans, tracer, use_settings):
    """OTEL_ERRORS_HTTP_CLIENT_ERROR_STATUSES decides which statuses are errors."""
    use_settings(http_client_error_statuses="404")
    with tracer.start_as_current_span("app"):
        client.get(f"{peer.url}/status/503")
        client.get(f"{peer.url}/status/404")
    assert [e["error.code"] for e in spans.exception_events()] == ["HTTP-404"]


def test_http_date_retry_after_is_read(client, peer, spans, tracer):
    """A Retry-After date in the past means "now": zero seconds."""
    date = "Wed, 21 Oct 2015 07:28:00 GMT"
    with tracer.start_as_current_span("app"):
        client.get(f"{peer.url}/status/429?retry_after={date}")
    assert spans.only_exception()["error.retry_after"] == 0.0


def test_suppressed_instrumentation_records_nothing(client, peer, spans, tracer):
    """Inside suppress_instrumentation (the SDK's exporters) nothing is recorded."""
    with tracer.start_as_current_span("app"), suppress_instrumentation():
        assert client.get(f"{peer.url}/status/503").status == 503
    assert spans.exception_events() == []


def test_stack_trace_names_the_call_site(client, peer, spans, tracer):
    """The synthetic exception's stack is where the app made the call; sites differ."""

    def first_call_site() -> None:
        client.get(f"{peer.url}/status/503")

    def second_call_site() -> None:
        client.get(f"{peer.url}/status/503")

    with tracer.start_as_current_span("app"):
        first_call_site()
        second_call_site()
    first, second = spans.exception_events()
    assert "first_call_site" in str(first["exception.stacktrace"])
    assert "otel_errors/_internal" not in str(first["exception.stacktrace"])
    assert first["error.fingerprint"] != second["error.fingerprint"]


def test_recording_failure_never_reaches_the_app(client, in_app, metric_points, monkeypatch):
    """A broken recorder is counted as an internal failure; the response is unchanged."""
    monkeypatch.setattr(fail_open, "_logged", set())
    monkeypatch.setattr(get_recorder(), "record", _explode)
    component = {"httpx-async": "httpx", "aiohttp": "aiohttp_client"}.get(
        client.library.name, client.library.name
    )
    before = _internal_failures(metric_points, f"{component}.response")
    outcome = in_app("/status/503")
    assert (outcome.status, outcome.body) == (503, "status body")
    assert _internal_failures(metric_points, f"{component}.response") == before + 1


def _explode(*args: Any, **kwargs: Any) -> None:
    raise RuntimeError("recorder bug")


def _internal_failures(metric_points, component: str) -> float:
    points = metric_points("otel_errors.internal_failures")
    return sum(v for a, v in points if a == {"component": component})


# --- raise_for_status ------------------------------------------------------------------


@pytest.mark.parametrize("name", WITH_RAISE_FOR_STATUS)
@pytest.mark.parametrize("contrib", [True, False], ids=["with-contrib", "without-contrib"])
def test_raise_for_status_after_a_recorded_response_is_not_recorded_again(
    name, contrib, peer, spans, tracer
):
    """raise_for_status's exception propagates unchanged, and the trace holds one event."""
    with instrumented(name, contrib=contrib) as setup:
        expected = setup.library.status_error
        assert expected is not None
        with pytest.raises(expected) as caught, tracer.start_as_current_span("app"):
            setup.get(f"{peer.url}/status/503", raise_for_status=True)
        assert type(caught.value) is expected
        event = spans.only_exception()
        assert event["exception.type"] == "otel_errors.HTTPErrorResponse"
        assert spans.named("app").attributes["error.type"] == "HTTP-503"


@pytest.mark.parametrize("name", WITH_RAISE_FOR_STATUS)
def test_raise_for_status_of_an_unrecorded_status_is_recorded_with_its_code(
    name, peer, spans, tracer
):
    """A 404 is not recorded as a response, so its HTTPError is, as HTTP-404."""
    with instrumented(name, contrib=False) as setup:
        expected = setup.library.status_error
        assert expected is not None
        with pytest.raises(expected), tracer.start_as_current_span("app"):
            setup.get(f"{peer.url}/status/404", raise_for_status=True)
        event = spans.only_exception()
        assert event["error.code"] == "HTTP-404"
        assert event["exception.type"] != "otel_errors.HTTPErrorResponse"


@pytest.mark.parametrize("contrib", [True, False], ids=["with-contrib", "without-contrib"])
def test_aiohttp_session_raise_for_status_is_recorded_once(contrib, peer, spans, tracer):
    """ClientSession(raise_for_status=True) raises inside contrib's span: still one event."""
    with instrumented("aiohttp", contrib=contrib) as setup:
        with pytest.raises(aiohttp.ClientResponseError), tracer.start_as_current_span("app"):
            setup.get(f"{peer.url}/status/502", session_raise_for_status=True)
        event = spans.only_exception()
        assert event["error.code"] == "HTTP-502"
        assert _events(_recording_span(spans, setup)) == [event]


def test_marking_failure_still_raises_the_original(peer, spans, tracer, metric_points, monkeypatch):
    """If marking the raised HTTPError fails, the app still gets it, and the failure is counted."""
    monkeypatch.setattr(fail_open, "_logged", set())
    monkeypatch.setattr(http_client, "mark_recorded", _explode)
    before = _internal_failures(metric_points, "http_client.raise_for_status")
    with (
        instrumented("requests", contrib=False),
        pytest.raises(requests.HTTPError) as caught,
        tracer.start_as_current_span("app"),
    ):
        _requests_get(f"{peer.url}/status/503", raise_for_status=True)
    assert caught.value.response.status_code == 503
    assert _internal_failures(metric_points, "http_client.raise_for_status") == before + 1


STABLE_SEMCONV_SCRIPT = """
import sys
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.instrumentation.requests import RequestsInstrumentor
import requests
from otel_errors._internal.pipeline import sdk_patch
from otel_errors._internal.pipeline.span_export import ExportSpanProcessor
from otel_errors.integrations.requests.instrumentor import RequestsErrorsInstrumentor

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(ExportSpanProcessor(SimpleSpanProcessor(exporter)))
trace.set_tracer_provider(provider)
sdk_patch.install()
RequestsInstrumentor().instrument()
RequestsErrorsInstrumentor().instrument()
requests.get(sys.argv[1], timeout=5)
(span,) = exporter.get_finished_spans()
print(span.attributes["error.type"], [e.attributes["error.code"] for e in span.events])
"""


def test_code_stays_error_type_under_stable_http_semconv(peer):
    """Contrib sets error.type to the status under stable HTTP semconv; the code wins at export."""
    result = subprocess.run(
        [sys.executable, "-c", STABLE_SEMCONV_SCRIPT, f"{peer.url}/status/503"],
        env={**os.environ, "OTEL_SEMCONV_STABILITY_OPT_IN": "http"},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert result.stdout.split() == ["HTTP-503", "['HTTP-503']"]


# --- layers: requests over urllib3, urllib3's own retries -----------------------------


@pytest.mark.parametrize("contrib", [True, False], ids=["with-contrib", "without-contrib"])
def test_requests_over_urllib3_records_once(contrib, peer, spans, tracer):
    """With both instrumentors, the exchange requests made through urllib3 is one event."""
    URLLib3ErrorsInstrumentor().instrument()
    try:
        with instrumented("requests", contrib=contrib) as setup:
            with tracer.start_as_current_span("app"):
                setup.get(f"{peer.url}/status/503")
            event = spans.only_exception()
            assert _events(_recording_span(spans, setup)) == [event]
    finally:
        URLLib3ErrorsInstrumentor().uninstrument()


@pytest.mark.parametrize("contrib", [True, False], ids=["with-contrib", "without-contrib"])
def test_urllib3_retried_responses_are_not_recorded(contrib, peer, spans, tracer):
    """Responses urllib3 retries are not outcomes; exhausted retries raise one HTTP-503."""
    retries = urllib3.Retry(total=2, status_forcelist=[503], backoff_factor=0)
    with instrumented("urllib3", contrib=contrib) as setup:
        with pytest.raises(urllib3.exceptions.MaxRetryError), tracer.start_as_current_span("app"):
            setup.get(f"{peer.url}/status/503", retries=retries)
        event = spans.only_exception()
        assert (event["exception.type"], event["error.code"]) == (
            "urllib3.exceptions.MaxRetryError",
            "HTTP-503",
        )


# --- exceptions of the clients ---------------------------------------------------------


def test_client_exception_is_recorded_once_with_its_code(client, spans, tracer):
    """A refused connection propagates unchanged and is one NET-001 event in the trace."""
    url = f"http://127.0.0.1:{closed_port()}/"
    with pytest.raises(Exception) as caught, tracer.start_as_current_span("app"):
        client.get(url)
    event = spans.only_exception()
    assert event["error.code"] == "NET-001"
    assert event["exception.type"] == _qualified(caught.value)
    if client.contrib:
        clients = [s for s in spans.all() if s.kind is SpanKind.CLIENT]
        assert [_events(s) for s in clients] == [[event]]


def _qualified(exc: BaseException) -> str:
    return f"{type(exc).__module__}.{type(exc).__qualname__}"


def _failure(name: str, url: str, **options: Any) -> BaseException:
    try:
        LIBRARIES[name].get(url, **options)
    except Exception as exc:
        return exc
    raise AssertionError(f"{name} {url}: no exception")


CLOSE_CODE = {
    "requests": "NET-002",
    "urllib3": "NET-002",
    "httpx": "HTTP-1005",
    "httpx-async": "HTTP-1005",
    "aiohttp": "HTTP-1005",
}
"""A server closing without answering: http.client calls it a reset, the others a protocol
error (httpx: "Server disconnected without sending a response")."""


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/reset", "NET-002"),
        ("/loop", "HTTP-1003"),
        ("/bad-gzip", "HTTP-1006"),
        ("/close", None),
    ],
)
def test_real_failures_are_classified(library_name, peer, path, code):
    """Each library's real failure gets the same code, without any instrumentor."""
    exc = _failure(library_name, peer.url + path, timeout=SHORT)
    expected = code or CLOSE_CODE[library_name]
    assert otel_errors.classify(exc).code == expected, repr(exc)


def test_refused_connection_is_net_001(library_name):
    """A closed port is NET-001 through every library's wrappers."""
    exc = _failure(library_name, f"http://127.0.0.1:{closed_port()}/")
    assert otel_errors.classify(exc).code == "NET-001", repr(exc)


def test_untrusted_certificate_is_net_004(library_name, tls):
    """A self-signed certificate fails verification: NET-004, not retryable."""
    exc = _failure(library_name, f"{tls.url}/status/200")
    entry = otel_errors.classify(exc)
    assert (entry.code, entry.retryable) == ("NET-004", False), repr(exc)


def test_connect_timeout_is_http_1001(library_name):
    """A peer whose accept queue is full never completes the handshake: HTTP-1001, retryable."""
    with full_backlog() as port:
        exc = _failure(library_name, f"http://127.0.0.1:{port}/", timeout=SHORT)
    entry = otel_errors.classify(exc)
    assert (entry.code, entry.retryable) == ("HTTP-1001", True), repr(exc)


def test_read_timeout_is_not_retryable(library_name, peer):
    """After the request was sent the dependency may have acted on it: not retryable."""
    exc = _failure(library_name, f"{peer.url}/stall", timeout=SHORT)
    entry = otel_errors.classify(exc)
    assert (entry.code, entry.category.value, entry.retryable) == ("HTTP-1002", "transient", False)


INVALID_URLS = [
    (name, url)
    for name in LIBRARIES
    for url in ("127.0.0.1/no-scheme", "http://127.0.0.1:abc/")
    # urllib3 2.x still accepts a URL without scheme (with a FutureWarning).
    if (name, url) != ("urllib3", "127.0.0.1/no-scheme")
]


@pytest.mark.parametrize(("name", "url"), INVALID_URLS)
def test_invalid_urls_are_programmer_errors(name, url):
    """A URL without scheme or with a port that is not a number: HTTP-1004, a programmer error."""
    exc = _failure(name, url)
    entry = otel_errors.classify(exc)
    assert (entry.code, entry.kind.value) == ("HTTP-1004", "programmer"), repr(exc)


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (401, "HTTP-401"),
        (403, "HTTP-403"),
        (404, "HTTP-404"),
        (418, "HTTP-4000"),
        (429, "HTTP-429"),
        (500, "HTTP-500"),
        (501, "HTTP-5000"),
        (502, "HTTP-502"),
        (503, "HTTP-503"),
        (504, "HTTP-504"),
    ],
)
@pytest.mark.parametrize("name", WITH_RAISE_FOR_STATUS)
def test_raise_for_status_errors_get_the_status_code(name, peer, status, code):
    """requests.HTTPError, httpx.HTTPStatusError and ClientResponseError map by status."""
    exc = _failure(name, f"{peer.url}/status/{status}", raise_for_status=True)
    assert otel_errors.classify(exc).code == code


def test_exhausted_status_retries_take_the_status_code(peer):
    """urllib3's MaxRetryError and requests' RetryError say which status ran out of retries."""
    retries = urllib3.Retry(total=1, status_forcelist=[502], backoff_factor=0)
    exc = _failure("urllib3", f"{peer.url}/status/502", retries=retries)
    assert otel_errors.classify(exc).code == "HTTP-502"
    with requests.Session() as session:
        session.mount("http://", requests.adapters.HTTPAdapter(max_retries=retries))
        with pytest.raises(requests.exceptions.RetryError) as caught:
            session.get(f"{peer.url}/status/502", timeout=TIMEOUT)
    assert otel_errors.classify(caught.value).code == "HTTP-502"


def test_unreachable_proxy_is_a_proxy_failure():
    """A refused proxy is HTTP-1007 (not NET-001): the dependency was never reached."""
    proxy = f"http://127.0.0.1:{closed_port()}"
    with requests.Session() as session, pytest.raises(requests.exceptions.ProxyError) as caught:
        session.get("http://example.invalid/", proxies={"http": proxy}, timeout=TIMEOUT)
    assert otel_errors.classify(caught.value).code == "HTTP-1007"


def test_exhausted_connection_pool_is_http_1008(peer):
    """No free pooled connection in time: HTTP-1008, retryable (nothing was sent)."""
    pool = urllib3.HTTPConnectionPool("127.0.0.1", peer.port, maxsize=1, block=True)
    with pool:
        held = pool.urlopen("GET", "/status/200", preload_content=False, release_conn=False)
        with pytest.raises(urllib3.exceptions.EmptyPoolError) as caught:
            pool.urlopen("GET", "/status/200", pool_timeout=0.01, retries=False)
        held.release_conn()
    limits = httpx.Limits(max_connections=1)
    with httpx.Client(limits=limits, timeout=httpx.Timeout(TIMEOUT, pool=0.01)) as client:
        with client.stream("GET", f"{peer.url}/status/200"):
            with pytest.raises(httpx.PoolTimeout) as caught_httpx:
                client.get(f"{peer.url}/status/200")
    for exc in (caught.value, caught_httpx.value):
        entry = otel_errors.classify(exc)
        assert (entry.code, entry.retryable) == ("HTTP-1008", True)


def test_undecodable_json_is_http_1006(peer):
    """A body that is not the JSON the caller expected is a decoding error."""
    with requests.Session() as session:
        response = session.get(f"{peer.url}/not-json", timeout=TIMEOUT)
        with pytest.raises(requests.exceptions.JSONDecodeError) as caught:
            response.json()
    assert otel_errors.classify(caught.value).code == "HTTP-1006"

    async def aiohttp_json() -> BaseException:
        async with aiohttp.ClientSession() as session, session.get(f"{peer.url}/status/200") as r:
            try:
                await r.json()
            except aiohttp.ContentTypeError as exc:
                return exc
        raise AssertionError("no ContentTypeError")

    assert otel_errors.classify(asyncio.run(aiohttp_json())).code == "HTTP-1006"


def _gaierror() -> socket.gaierror:
    return socket.gaierror(socket.EAI_NONAME, "Name or service not known")


def _requests_dns_failure() -> BaseException:
    # urllib3 connection: raise NameResolutionError(host, self, e) from e;
    # Retry.increment: raise MaxRetryError(pool, url, reason) from reason;
    # requests' HTTPAdapter.send, in its except block: raise ConnectionError(e, request=...).
    gaierror = _gaierror()
    conn = urllib3.connection.HTTPConnection("dependency.internal", 80)
    reason = urllib3.exceptions.NameResolutionError("dependency.internal", conn, gaierror)
    reason.__cause__ = gaierror
    pool = urllib3.HTTPConnectionPool("dependency.internal", 80)
    exhausted = urllib3.exceptions.MaxRetryError(pool, "/", reason)
    exhausted.__cause__ = reason
    exc = requests.exceptions.ConnectionError(exhausted)
    exc.__context__ = exhausted
    return exc


def _httpx_dns_failure() -> BaseException:
    # httpcore's map_exceptions: raise ConnectError(exc) from exc; httpx's the same again.
    gaierror = _gaierror()
    inner = httpcore.ConnectError(gaierror)
    inner.__cause__ = gaierror
    exc = httpx.ConnectError(str(gaierror))
    exc.__cause__ = inner
    return exc


def _aiohttp_dns_failure() -> BaseException:
    # aiohttp's TCPConnector: raise ClientConnectorDNSError(req.connection_key, exc) from exc.
    gaierror = _gaierror()
    key = aiohttp.client_reqrep.ConnectionKey(
        host="dependency.internal",
        port=80,
        is_ssl=False,
        ssl=True,
        proxy=None,
        proxy_auth=None,
        proxy_headers_hash=None,
        server_hostname=None,
    )
    exc = aiohttp.ClientConnectorDNSError(key, gaierror)
    exc.__cause__ = gaierror
    return exc


@pytest.mark.parametrize(
    "build",
    [_requests_dns_failure, _httpx_dns_failure, _aiohttp_dns_failure],
    ids=["requests", "httpx", "aiohttp"],
)
def test_dns_failures_are_net_003(build):
    """Built as each library builds it (no resolver in tests): NET-003 through the wrappers."""
    assert otel_errors.classify(build()).code == "NET-003"


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (requests.exceptions.ConnectionError("no details"), "NET-005"),
        (httpx.ConnectError("no details"), "NET-005"),
        (urllib3.exceptions.ProtocolError("no details"), "HTTP-1005"),
        (aiohttp.ClientOSError(), "NET-005"),
        (requests.exceptions.Timeout("phase unknown"), "GEN-001"),
        (requests.exceptions.RequestException("anything"), "HTTP-1000"),
        (requests.exceptions.HTTPError("built by hand, no response"), "HTTP-1000"),
        (urllib3.exceptions.ProxySchemeUnknown("ftp"), "HTTP-1004"),
        (httpx.StreamConsumed(), "HTTP-1009"),
        (HTTPErrorResponse(503, "GET", "http://h/"), "HTTP-503"),
    ],
    ids=repr,
)
def test_wrappers_without_details_keep_their_own_code(exc, code):
    """A wrapper with nothing recognisable inside falls back to its class's code."""
    assert otel_errors.classify(exc).code == code


def test_classification_imports_no_http_library():
    """Classifying needs no instrumentor and imports none of the HTTP libraries."""
    script = (
        "import sys, otel_errors\n"
        "otel_errors.classify(OSError())\n"
        "loaded = {'requests', 'httpx', 'httpcore', 'urllib3', 'aiohttp'} & set(sys.modules)\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)


# --- uninstrument, the synthetic exception, helpers ------------------------------------

PATCHED = {
    "requests": [
        (requests.adapters.HTTPAdapter, "send"),
        (requests.models.Response, "raise_for_status"),
    ],
    "httpx": [
        (httpcore.ConnectionPool, "handle_request"),
        (httpcore.AsyncConnectionPool, "handle_async_request"),
        (httpx.Response, "raise_for_status"),
    ],
    "urllib3": [(urllib3.connectionpool.HTTPConnectionPool, "_make_request")],
    "aiohttp": [
        (aiohttp.client_reqrep.ClientResponse, "start"),
        (aiohttp.client_reqrep.ClientResponse, "raise_for_status"),
    ],
}


@pytest.mark.parametrize("name", list(PATCHED))
def test_uninstrument_restores_the_originals(name, peer, spans, tracer):
    """After uninstrument() every patched method is the original and nothing is recorded."""
    originals = [vars(owner)[method] for owner, method in PATCHED[name]]
    with instrumented(name, contrib=True):
        patched = [vars(owner)[method] for owner, method in PATCHED[name]]
        assert not any(now is before for now, before in zip(patched, originals, strict=True))
    restored = [vars(owner)[method] for owner, method in PATCHED[name]]
    assert all(now is before for now, before in zip(restored, originals, strict=True))
    with tracer.start_as_current_span("app"):
        LIBRARIES[name].get(f"{peer.url}/status/503")
    assert spans.exception_events() == []


def test_aiohttp_start_stays_what_callers_inspect(spans):
    """The replacement of aiohttp's ``ClientResponse.start`` is a plain coroutine function.

    Not wrapt (see the unit's docstring): it must still look like the original to
    introspection, and a wrapper put on top of it later survives ``uninstrument``.
    """
    import wrapt

    response = aiohttp.client_reqrep.ClientResponse
    original = vars(response)["start"]
    with instrumented("aiohttp", contrib=False):
        ours = vars(response)["start"]
        assert ours.__wrapped__ is original
        assert asyncio.iscoroutinefunction(ours)
        assert (ours.__name__, ours.__doc__) == (original.__name__, original.__doc__)
        wrapt.wrap_function_wrapper(response, "start", lambda wrapped, _, a, k: wrapped(*a, **k))
    try:
        assert vars(response)["start"].__wrapped__ is ours  # theirs stays, with ours inside
    finally:
        response.start = original


def test_dependencies_are_declared():
    """The launcher installs each instrumentor only when its library is present."""
    assert RequestsErrorsInstrumentor().instrumentation_dependencies() == ("requests >= 2.0",)
    assert "httpx >= 0.23" in HTTPXErrorsInstrumentor().instrumentation_dependencies()
    assert URLLib3ErrorsInstrumentor().instrumentation_dependencies() == ("urllib3 >= 2.0, < 3",)
    assert AioHttpClientErrorsInstrumentor().instrumentation_dependencies() == ("aiohttp ~= 3.0",)


def test_http_error_response_is_the_public_exception():
    """HTTPErrorResponse is named otel_errors.HTTPErrorResponse and rebuilds from its args."""
    exc = HTTPErrorResponse(503, "GET", "https://api.example/v1", "Service Unavailable", 7.0)
    assert str(exc) == "503 Service Unavailable from GET https://api.example/v1"
    assert f"{type(exc).__module__}.{type(exc).__qualname__}" == "otel_errors.HTTPErrorResponse"
    copy = HTTPErrorResponse(*exc.args)  # what pickle does
    assert (copy.status_code, copy.method, copy.url, copy.reason, copy.retry_after) == (
        503,
        "GET",
        "https://api.example/v1",
        "Service Unavailable",
        7.0,
    )


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("7", 7.0),
        (" 120 ", 120.0),
        (b"3", 3.0),
        ("1.5", 1.5),
        ("Thu, 01 Jan 1970 00:01:40 GMT", 60.0),
        ("Thu, 01 Jan 1970 00:00:10 GMT", 0.0),
        ("-1", None),
        ("nan", None),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_is_read_as_seconds(value, seconds):
    """Retry-After as delay-seconds or an HTTP date (relative to now); junk is ignored."""
    assert retry_after_seconds(value, now=40.0) == seconds


@pytest.mark.parametrize(
    ("url", "public"),
    [
        (
            "https://user:pw@api.example:8443/v1/items?key=s3cret#top",
            "https://api.example:8443/v1/items",
        ),
        ("http://[::1]:8080/x", "http://[::1]:8080/x"),
        ("http://exa mple.com:99999/", "http://exa mple.com:99999/"),
    ],
)
def test_public_url_drops_credentials_and_query(url, public):
    """URLs on events never carry userinfo, query strings or fragments."""
    assert public_url(url) == public
