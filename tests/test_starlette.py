"""FastAPI/Starlette: answers kept by default, problem details on request.

Also request ids and once-only recording, with and without contrib.

Each test runs a real uvicorn server on 127.0.0.1 and sends real HTTP requests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import requests
import uvicorn
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.trace import SpanKind, StatusCode
from pydantic import BaseModel, Field
from starlette.middleware.errors import ServerErrorMiddleware

import otel_errors
from otel_errors.integrations.starlette.instrumentor import StarletteErrorsInstrumentor


class OrderMissing(otel_errors.AppError, code="GEN-003"):
    """An application error with a 500 catalogue status (GEN-003 is 500)."""


class Declined(
    otel_errors.AppError,
    code=otel_errors.ErrorCode("TST-402", title="Declined", http_status=402, severity="P4"),
):
    """An application error answered with 402."""  # fmt: skip


class Order(BaseModel):
    """A request body with a validated field."""

    quantity: int = Field(ge=1)
    card: str


def make_app(*, own_app_error_handler: bool = False) -> FastAPI:
    app = FastAPI()

    @app.get("/bug")
    async def bug() -> int:
        return 1 // 0

    @app.get("/declined")
    def declined() -> None:
        raise Declined("card 4242 declined by issuer", attempt=2)

    @app.get("/missing")
    def missing() -> None:
        raise OrderMissing

    @app.get("/teapot")
    def teapot() -> None:
        raise HTTPException(status_code=404, detail="No teapot here")

    @app.post("/orders")
    def orders(order: Order) -> dict[str, int]:
        return {"quantity": order.quantity}

    if own_app_error_handler:

        @app.exception_handler(otel_errors.AppError)
        async def mine(request: Request, exc: otel_errors.AppError) -> JSONResponse:
            return JSONResponse({"mine": exc.code}, status_code=418)

    return app


def serve(app: FastAPI) -> Iterator[str]:
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="critical", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def instrumented() -> Iterator[None]:
    StarletteErrorsInstrumentor().instrument()
    yield
    StarletteErrorsInstrumentor().uninstrument()


@pytest.fixture(params=["with-contrib", "without-contrib"])
def url(request, instrumented) -> Iterator[str]:
    app = make_app()
    if request.param == "with-contrib":
        FastAPIInstrumentor.instrument_app(app)
    yield from serve(app)
    if request.param == "with-contrib":
        FastAPIInstrumentor.uninstrument_app(app)


def test_unhandled_bug_keeps_the_framework_answer(url, spans):
    """By default a bug answers Starlette's own 500, no header added; one unhandled event."""
    response = requests.get(f"{url}/bug", headers={"X-Request-ID": "req-41"}, timeout=5)
    assert (response.status_code, response.text) == (500, "Internal Server Error")
    assert response.headers["content-type"].startswith("text/plain")
    assert "x-request-id" not in response.headers
    event = _wait_for_exception(spans)
    assert (event["error.code"], event["error.handled"]) == ("BUG-005", False)


def test_unhandled_bug_becomes_a_problem_when_asked(url, spans, use_settings):
    """With problem details for all, a bug is a 500 problem with code, trace and request id."""
    use_settings(problem_details="all")
    response = requests.get(f"{url}/bug", headers={"X-Request-ID": "req-42"}, timeout=5)
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-request-id"] == "req-42"
    body = response.json()
    assert body["type"] == "about:blank"
    assert body["title"] == "Internal Server Error"
    assert body["status"] == 500
    assert body["code"] == "BUG-005"
    assert body["detail"] == "An internal error occurred."
    assert body["instance"] == "/bug"
    assert body["request_id"] == "req-42"
    assert "division" not in response.text
    assert "Traceback" not in response.text
    _wait_for_spans(spans, body["trace_id"])
    event = spans.only_exception()
    assert event["error.code"] == "BUG-005"
    assert event["error.handled"] is False


def test_html_clients_keep_the_framework_pages(url, spans, use_settings):
    """A browser gets the framework's answers even with problem details for all."""
    use_settings(problem_details="all")
    browser = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
    bug = requests.get(f"{url}/bug", headers=browser, timeout=5)
    declined = requests.get(f"{url}/declined", headers=browser, timeout=5)
    teapot = requests.get(f"{url}/teapot", headers=browser, timeout=5)
    assert (bug.status_code, bug.text) == (500, "Internal Server Error")
    assert (declined.status_code, declined.text) == (500, "Internal Server Error")
    assert (teapot.status_code, teapot.json()) == (404, {"detail": "No teapot here"})


def test_app_error_uses_its_catalogue_status(url, spans):
    """An AppError answers with its code's status and public message; 4xx is handled."""
    response = requests.get(f"{url}/declined", timeout=5)
    assert response.status_code == 402
    body = response.json()
    assert body["code"] == "TST-402"
    assert body["detail"] == "Declined"
    assert "4242" not in response.text
    _wait_for_spans(spans, body["trace_id"])
    event = spans.only_exception()
    assert event["error.handled"] is True
    assert event["error.context.attempt"] == 2


def test_server_status_app_error_fails_the_span(url, spans):
    """An AppError whose code maps to 5xx is an unhandled failure."""
    response = requests.get(f"{url}/missing", timeout=5)
    assert response.status_code == 500
    _wait_for_spans(spans, response.json()["trace_id"])
    assert spans.only_exception()["error.handled"] is False


def test_validation_errors_keep_fastapi_s_answer_by_default(url, spans):
    """FastAPI's 422 body (its detail list, read by frontends) is untouched by default."""
    response = requests.post(f"{url}/orders", json={"quantity": 0, "card": "x"}, timeout=5)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/json"
    assert response.json()["detail"][0]["msg"] == "Input should be greater than or equal to 1"


def test_validation_errors_list_fields_without_values(url, spans, use_settings):
    """With problem details for all: 422 problem with field-level errors, values never echoed."""
    use_settings(problem_details="all")
    response = requests.post(
        f"{url}/orders", json={"quantity": 0, "card": "4111111111111111"}, timeout=5
    )
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "WEB-422"
    assert body["errors"] == [
        {
            "field": "body.quantity",
            "message": "Input should be greater than or equal to 1",
            "type": "greater_than_equal",
        }
    ]
    assert "4111" not in response.text
    _wait_for_spans(spans, body["trace_id"])
    assert spans.only_exception()["error.code"] == "WEB-422"


def test_http_exceptions_keep_fastapi_s_answer_by_default(url, spans):
    """HTTPException(404) and routing 404s answer FastAPI's own JSON by default, not recorded."""
    response = requests.get(f"{url}/teapot", timeout=5)
    assert (response.status_code, response.json()) == (404, {"detail": "No teapot here"})
    assert requests.get(f"{url}/nowhere", timeout=5).json() == {"detail": "Not Found"}
    assert spans.exception_events() == []


def test_http_exceptions_keep_the_application_detail(url, spans, use_settings):
    """With problem details for all, HTTPException(404) is a WEB-404 problem with its detail."""
    use_settings(problem_details="all")
    response = requests.get(f"{url}/teapot", timeout=5)
    assert response.status_code == 404
    body = response.json()
    assert (body["code"], body["detail"]) == ("WEB-404", "No teapot here")
    assert requests.get(f"{url}/nowhere", timeout=5).json()["code"] == "WEB-404"
    assert spans.exception_events() == []


@pytest.mark.parametrize("incoming", [None, "<script>alert(1)</script> id", "x" * 200])
def test_unsafe_or_missing_request_ids_are_replaced(url, spans, incoming, use_settings):
    """Missing, unsafe or oversized ids are replaced by a generated one, echoed when asked."""
    use_settings(request_id_echo=True)
    headers = {"X-Request-ID": incoming} if incoming else {}
    response = requests.get(f"{url}/teapot", headers=headers, timeout=5)
    generated = response.headers["x-request-id"]
    assert len(generated) == 32
    assert generated != incoming
    assert response.json() == {"detail": "No teapot here"}


def test_request_ids_are_not_echoed_by_default(url, spans):
    """Without OTEL_ERRORS_REQUEST_ID_ECHO the response headers are the framework's."""
    response = requests.get(f"{url}/teapot", headers={"X-Request-ID": "in-1"}, timeout=5)
    assert "x-request-id" not in response.headers


def test_request_id_on_the_server_span(spans, instrumented):
    """With contrib, the server span carries request.id."""
    app = make_app()
    FastAPIInstrumentor.instrument_app(app)
    for base in serve(app):
        requests.get(f"{base}/teapot", headers={"X-Request-ID": "abc-1"}, timeout=5)
        spans.wait_for_kind(SpanKind.SERVER)
    FastAPIInstrumentor.uninstrument_app(app)
    (server,) = [s for s in spans.all() if s.kind is SpanKind.SERVER]
    assert server.attributes["request.id"] == "abc-1"
    assert server.status.status_code is StatusCode.UNSET


def test_applications_own_handlers_stay_in_charge(spans, instrumented):
    """An AppError handler of the application is not replaced."""
    for base in serve(make_app(own_app_error_handler=True)):
        response = requests.get(f"{base}/declined", timeout=5)
    assert (response.status_code, response.json()) == (418, {"mine": "TST-402"})


def test_problem_details_can_be_switched_off(spans, instrumented, use_settings):
    """OTEL_ERRORS_PROBLEM_DETAILS=off keeps the framework's answers, even for AppErrors."""
    use_settings(problem_details="off")
    for base in serve(make_app()):
        bug = requests.get(f"{base}/bug", timeout=5)
        declined = requests.get(f"{base}/declined", timeout=5)
        teapot = requests.get(f"{base}/teapot", timeout=5)
    assert (bug.status_code, bug.text) == (500, "Internal Server Error")
    assert (declined.status_code, declined.text) == (500, "Internal Server Error")
    assert teapot.json() == {"detail": "No teapot here"}
    events = spans.exception_events()
    assert sorted((e["error.code"], e["error.handled"]) for e in events) == [
        ("BUG-005", False),
        ("TST-402", False),
    ]


def test_debug_mode_adds_the_exception(spans, instrumented, use_settings):
    """OTEL_ERRORS_DEBUG=true includes type, message and stack trace."""
    use_settings(debug=True, problem_type_base="https://errors.example.com/", problem_details="all")
    for base in serve(make_app()):
        body = requests.get(f"{base}/bug", timeout=5).json()
    assert body["type"] == "https://errors.example.com/BUG-005"
    assert body["title"] == "Arithmetic error"
    assert body["exception"]["type"] == "ZeroDivisionError"
    assert "Traceback" in body["exception"]["stacktrace"]


def test_uninstrument_restores_starlette(spans):
    """After uninstrument, Starlette's own methods are back."""
    original = ServerErrorMiddleware.error_response
    StarletteErrorsInstrumentor().instrument()
    assert ServerErrorMiddleware.error_response is not original
    StarletteErrorsInstrumentor().uninstrument()
    assert ServerErrorMiddleware.error_response is original
    for base in serve(make_app()):
        response = requests.get(f"{base}/bug", timeout=5)
    assert response.text == "Internal Server Error"


def _wait_for_exception(spans) -> dict[str, object]:
    deadline = time.monotonic() + 5
    while not spans.exception_events():
        assert time.monotonic() < deadline, [s.name for s in spans.all()]
        time.sleep(0.01)
    return spans.only_exception()


def _wait_for_spans(spans, trace_id: str) -> None:
    """Waits until the span holding the trace's exception event has ended."""
    deadline = time.monotonic() + 5
    while not any(format(s.context.trace_id, "032x") == trace_id and s.events for s in spans.all()):
        assert time.monotonic() < deadline, [s.name for s in spans.all()]
        time.sleep(0.01)


def test_request_counts_without_contrib(spans, instrumented, metric_points):
    """A plain Starlette app (no server span): otel_errors records the request itself."""
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def count_me(request: Request) -> PlainTextResponse:
        return PlainTextResponse(request.path_params["n"])

    async def fail(request: Request) -> PlainTextResponse:
        raise RuntimeError("boom")

    app = Starlette(routes=[Route("/count-me/{n}", count_me), Route("/fail", fail)])
    for base in serve(app):
        for n in range(3):
            requests.get(f"{base}/count-me/{n}", timeout=5)
        assert requests.get(f"{base}/fail", timeout=5).status_code == 500
    counts = {
        (p.attributes.get("http.route"), p.attributes["http.response.status_code"]): p.count
        for p in metric_points("http.server.request.duration", raw=True, scope="otel_errors")
    }
    assert counts.get(("/count-me/{n}", 200)) == 3, counts
    assert counts.get(("/fail", 500)) == 1, counts


@pytest.mark.parametrize("telemetry", ["contrib", "fastapi-native"])
def test_no_double_request_counts(spans, instrumented, metric_points, telemetry):
    """When contrib or FastAPI's own telemetry counts requests, otel_errors does not."""
    if telemetry == "fastapi-native":
        pytest.importorskip("fastapi.telemetry", reason="FastAPI before its built-in telemetry")
    app = make_app()
    route = f"/counted-by-{telemetry}"

    async def counted() -> dict[str, str]:
        return {}

    app.get(route)(counted)
    if telemetry == "contrib":
        FastAPIInstrumentor.instrument_app(app)
    for base in serve(app):
        requests.get(base + route, timeout=5)
        spans.wait_for_kind(SpanKind.SERVER)
    if telemetry == "contrib":
        FastAPIInstrumentor.uninstrument_app(app)
    ours = metric_points("http.server.request.duration", raw=True, scope="otel_errors")
    assert not [p for p in ours if p.attributes.get("http.route") == route]
