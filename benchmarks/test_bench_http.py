"""HTTP client success path: contrib's instrumentation alone vs contrib + otel_errors.

A ``GET`` answered 200 by a keep-alive HTTP/1.1 server on 127.0.0.1, through one
``requests.Session`` while contrib's ``RequestsInstrumentor`` is on (so every call
makes a client span). The ``otel_errors`` side adds our pipeline (span processors,
the SDK patch) and ``RequestsErrorsInstrumentor``, whose wrapper of
``HTTPAdapter.send`` runs inside contrib's span and only compares the status with
the error statuses (target: within 3% of vanilla; the round trip dominates both).
The same for httpx (``HTTPXClientInstrumentor`` and ``HTTPXErrorsInstrumentor``, whose
wrapper of httpcore's pool makes the same comparison). Reading a failed response's
``Otel-Errors-*`` headers (errors across services) happens only from status 400: on
these successes it costs one integer comparison.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import requests
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from otel_errors._internal.pipeline import sdk_patch
from otel_errors._internal.pipeline.setup import tracer_components
from otel_errors._internal.recording.runtime import current
from otel_errors.integrations.httpx.instrumentor import HTTPXErrorsInstrumentor
from otel_errors.integrations.requests.instrumentor import RequestsErrorsInstrumentor

BODY = b'{"ok": true}'


class DroppingExporter(SpanExporter):
    """Accepts and forgets every span, so only the in-process cost is measured."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


class _Ok(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body leave at once: no delayed-ACK stall

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Keeps the benchmark output clean."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)


class _Server(ThreadingHTTPServer):
    daemon_threads = True


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    server = _Server(("127.0.0.1", 0), _Ok)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/items"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def provider_for(side: str) -> TracerProvider:
    provider = TracerProvider()
    if side == "vanilla":
        provider.add_span_processor(BatchSpanProcessor(DroppingExporter()))
        return provider
    processors, export_processor = tracer_components(current().redactor)
    for processor in processors:
        provider.add_span_processor(processor)
    provider.add_span_processor(export_processor(DroppingExporter()))
    return provider


@contextlib.contextmanager
def instrumented(side: str, contrib: Any, ours: Any) -> Iterator[None]:
    """Contrib's instrumentor alone (vanilla SDK) or with our pipeline, patch and ``ours``."""
    provider = provider_for(side)
    if side == "vanilla":
        sdk_patch.uninstall()
    else:
        sdk_patch.install()
        ours.instrument()
    contrib.instrument(tracer_provider=provider)
    try:
        yield
    finally:
        contrib.uninstrument()
        if side == "otel_errors":
            ours.uninstrument()
        provider.shutdown()
        sdk_patch.uninstall()


@pytest.fixture(params=["vanilla", "otel_errors"])
def side(request, url) -> Iterator[tuple[str, requests.Session]]:
    with (
        instrumented(request.param, RequestsInstrumentor(), RequestsErrorsInstrumentor()),
        requests.Session() as session,
    ):
        yield request.param, session


def test_requests_get(benchmark, side, url):
    name, session = side
    benchmark.group = "e. requests GET 200 (contrib instrumentation)"
    benchmark.name = name

    def run() -> None:
        session.get(url, timeout=5).content  # noqa: B018 - reading the body is part of a call

    benchmark(run)
    response = session.get(url, timeout=5)
    assert (response.status_code, response.content) == (200, BODY)


@pytest.fixture(params=["vanilla", "otel_errors"])
def httpx_side(request, url) -> Iterator[tuple[str, httpx.Client]]:
    with (
        instrumented(request.param, HTTPXClientInstrumentor(), HTTPXErrorsInstrumentor()),
        httpx.Client() as client,
    ):
        yield request.param, client


def test_httpx_get(benchmark, httpx_side, url):
    name, client = httpx_side
    benchmark.group = "e. httpx GET 200 (contrib instrumentation)"
    benchmark.name = name

    def run() -> None:
        client.get(url, timeout=5).content  # noqa: B018 - reading the body is part of a call

    benchmark(run)
    response = client.get(url, timeout=5)
    assert (response.status_code, response.content) == (200, BODY)
