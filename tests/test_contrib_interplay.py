"""Exceptions recorded by contrib framework instrumentations get our attributes, once.

Real servers on 127.0.0.1 (werkzeug for Flask, uvicorn for FastAPI), real HTTP
requests, the contrib instrumentations applied to the apps.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import requests
import uvicorn
from fastapi import FastAPI
from flask import Flask
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.flask import FlaskInstrumentor
from opentelemetry.trace import SpanKind, StatusCode
from werkzeug.serving import make_server

import otel_errors


class LedgerLocked(otel_errors.AppError, code="GEN-001"):
    """An application error raised by the views."""


def _server_span(spans):
    spans.wait_for_kind(SpanKind.SERVER)
    servers = [s for s in spans.all() if s.kind is SpanKind.SERVER]
    assert len(servers) == 1, [s.name for s in spans.all()]
    return servers[0]


@pytest.fixture
def flask_url() -> Iterator[str]:
    app = Flask("interplay")

    @app.get("/boom/<int:n>")
    def boom(n: int) -> str:
        return str(10 // n)

    @app.get("/locked")
    def locked() -> str:
        raise LedgerLocked("ledger locked by batch job")

    @app.get("/handled")
    @otel_errors.handle(KeyError, fallback="default")
    def handled() -> str:
        return {}["k"]

    FlaskInstrumentor().instrument_app(app)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.port}"
    server.shutdown()
    FlaskInstrumentor().uninstrument_app(app)


@pytest.fixture
def fastapi_url() -> Iterator[str]:
    app = FastAPI()

    @app.get("/boom/{n}")
    async def boom(n: int) -> int:
        return 10 // n

    @app.get("/sync-boom")
    def sync_boom() -> dict[str, str]:
        return {"value": {}["missing"]}

    FastAPIInstrumentor.instrument_app(app)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="critical", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    FastAPIInstrumentor.uninstrument_app(app)


def test_flask_view_exception_gets_codes_once(spans, flask_url):
    """An exception escaping a Flask view: one event with our attributes on the server span."""
    assert requests.get(f"{flask_url}/boom/0", timeout=5).status_code == 500
    assert requests.get(f"{flask_url}/boom/2", timeout=5).text == "5"
    spans.wait_for_kind(SpanKind.SERVER, count=2)
    failing = [s for s in spans.all() if s.kind is SpanKind.SERVER and s.events]
    assert len(failing) == 1
    server = failing[0]
    (event,) = [e.attributes for e in server.events if e.name == "exception"]
    assert event["error.code"] == "BUG-005"
    assert event["exception.type"] == "ZeroDivisionError"
    assert event["error.handled"] is False
    assert server.attributes["error.type"] == "BUG-005"
    assert server.status.status_code is StatusCode.ERROR


def test_flask_app_error_and_handled_error(spans, flask_url):
    """AppError codes come through Flask; a handled error is recorded as handled."""
    requests.get(f"{flask_url}/locked", timeout=5)
    spans.wait_for_kind(SpanKind.SERVER)
    assert spans.only_exception()["error.code"] == "GEN-001"
    spans._exporter.clear()
    assert requests.get(f"{flask_url}/handled", timeout=5).text == "default"
    spans.wait_for_kind(SpanKind.SERVER)
    event = spans.only_exception()
    assert event["error.handled"] is True
    assert _server_span(spans).status.status_code is StatusCode.UNSET


@pytest.mark.parametrize(("path", "code"), [("/boom/0", "BUG-005"), ("/sync-boom", "BUG-003")])
def test_fastapi_exception_gets_codes_once(spans, fastapi_url, path, code):
    """An exception escaping a FastAPI endpoint (async or sync): one event, our code."""
    assert requests.get(fastapi_url + path, timeout=5).status_code == 500
    spans.wait_for_kind(SpanKind.SERVER)
    events = spans.exception_events()
    assert len(events) == 1, events
    assert events[0]["error.code"] == code
    server = _server_span(spans)
    assert server.attributes["error.type"] == code
    assert server.status.status_code is StatusCode.ERROR
