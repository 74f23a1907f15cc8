"""Flask: answers kept by default, problem details on request, trapping respected.

Also request ids, and errors recorded once and as unhandled when they escape, with and
without contrib.

Each test runs a real werkzeug server on 127.0.0.1 and sends real HTTP requests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import flask
import pytest
import requests
from flask import Flask, abort
from opentelemetry.instrumentation.flask import FlaskInstrumentor
from opentelemetry.trace import SpanKind, StatusCode
from werkzeug.serving import make_server

import otel_errors
from otel_errors.integrations.flask.instrumentor import FlaskErrorsInstrumentor
from otel_errors.integrations.process_hooks.instrumentor import ProcessHooksErrorsInstrumentor

Locked = type(
    "Locked",
    (otel_errors.AppError,),
    {},
    code=otel_errors.ErrorCode("TST-423", title="Locked", http_status=423, severity="P4"),
)


def make_app(*, own_500_handler: bool = False) -> Flask:
    app = Flask("problem-test")
    after_request_calls: list[int] = []
    app.config["after_request_calls"] = after_request_calls

    @app.get("/bug")
    def bug() -> str:
        return str(1 // 0)

    _add_failing_routes(app)

    @app.get("/locked")
    def locked() -> str:
        raise Locked("row 7 locked by batch", row=7)

    @app.get("/unavailable")
    def unavailable() -> str:
        abort(503, description="Maintenance until 10:00")

    @app.after_request
    def count(response: flask.Response) -> flask.Response:
        after_request_calls.append(response.status_code)
        return response

    if own_500_handler:

        @app.errorhandler(500)
        def mine(error: Exception) -> tuple[str, int]:
            return "my own page", 500

    return app


def _add_failing_routes(app: Flask) -> None:
    @app.get("/value")
    def value() -> str:
        return str(int("not a number"))

    @app.get("/logged")
    def logged() -> str:
        try:
            return str(1 // 0)
        except ZeroDivisionError:
            app.logger.exception("division failed")
            raise

    @app.get("/gone")
    def gone() -> str:
        abort(404)


def serve(app: Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.port}"
    server.shutdown()


@pytest.fixture
def instrumented() -> Iterator[None]:
    FlaskErrorsInstrumentor().instrument()
    yield
    FlaskErrorsInstrumentor().uninstrument()


@pytest.fixture
def with_logging_hook() -> Iterator[None]:
    """The logging hook of the launcher: Flask logs an escaped exception before answering."""
    hooks = ProcessHooksErrorsInstrumentor()
    hooks.instrument()
    yield
    hooks.uninstrument()


@pytest.fixture(params=["with-contrib", "without-contrib"])
def app_url(request, instrumented, with_logging_hook) -> Iterator[tuple[Flask, str]]:
    app = make_app()
    if request.param == "with-contrib":
        FlaskInstrumentor().instrument_app(app)
    for url in serve(app):
        yield app, url
    if request.param == "with-contrib":
        FlaskInstrumentor().uninstrument_app(app)


def _wait_for_exception(spans) -> dict[str, object]:
    deadline = time.monotonic() + 5
    while not spans.exception_events():
        assert time.monotonic() < deadline, [s.name for s in spans.all()]
        time.sleep(0.01)
    return spans.only_exception()


def _errors_by_handled(metric_points, code: str) -> dict[bool, int]:
    counts = {True: 0, False: 0}
    for attrs, value in metric_points("errors"):
        if attrs["error.code"] == code:
            counts[attrs["error.handled"]] += value
    return counts


@pytest.mark.parametrize("route", ["/bug", "/logged"])
def test_unhandled_exception_keeps_flask_s_page_and_is_unhandled(
    app_url, spans, metric_points, route
):
    """A bug answers Flask's own 500 page; the event and the counter say unhandled, once."""
    app, url = app_url
    before = _errors_by_handled(metric_points, "BUG-005")
    response = requests.get(f"{url}{route}", headers={"X-Request-ID": "flask-0"}, timeout=5)
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/html")
    assert "x-request-id" not in response.headers
    assert app.config["after_request_calls"] == [500]
    event = _wait_for_exception(spans)
    assert (event["error.code"], event["error.handled"]) == ("BUG-005", False)
    after = _errors_by_handled(metric_points, "BUG-005")
    assert (after[False] - before[False], after[True] - before[True]) == (1, 0)


def test_an_uncaught_value_error_stays_a_500(app_url, spans):
    """A builtin ValueError escaping application code is Flask's 500, not a 400."""
    _, url = app_url
    response = requests.get(f"{url}/value", timeout=5)
    assert response.status_code == 500
    assert _wait_for_exception(spans)["error.handled"] is False


def test_unhandled_exception_becomes_a_problem_when_asked(app_url, spans, use_settings):
    """With problem details for all, a bug is a 500 problem; Flask still runs after_request."""
    use_settings(problem_details="all")
    app, url = app_url
    response = requests.get(f"{url}/bug", headers={"X-Request-ID": "flask-1"}, timeout=5)
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-request-id"] == "flask-1"
    body = response.json()
    assert (body["code"], body["title"], body["instance"]) == (
        "BUG-005",
        "Internal Server Error",
        "/bug",
    )
    assert body["request_id"] == "flask-1"
    assert len(body["trace_id"]) == 32
    assert "division" not in response.text
    assert app.config["after_request_calls"] == [500]
    event = _wait_for_exception(spans)
    assert (event["error.code"], event["error.handled"]) == ("BUG-005", False)
    html = requests.get(f"{url}/bug", headers={"Accept": "text/html"}, timeout=5)
    assert html.headers["content-type"].startswith("text/html")


def test_client_app_error_is_answered_and_handled(app_url, spans):
    """A 4xx AppError answers with its catalogue status by default and is recorded as handled."""
    _, url = app_url
    response = requests.get(f"{url}/locked", timeout=5)
    assert response.status_code == 423
    assert response.json()["code"] == "TST-423"
    assert "row 7" not in response.text
    event = _wait_for_exception(spans)
    assert event["error.handled"] is True
    assert event["error.context.row"] == 7


def test_abort_keeps_its_description_and_records_server_errors(app_url, spans, use_settings):
    """With problem details for all, abort(503) gives a WEB-503 problem and an unhandled event."""
    use_settings(problem_details="all")
    _, url = app_url
    response = requests.get(f"{url}/unavailable", timeout=5)
    assert response.status_code == 503
    body = response.json()
    assert (body["code"], body["detail"]) == ("WEB-503", "Maintenance until 10:00")
    assert _wait_for_exception(spans)["error.code"] == "WEB-503"


def test_not_found_keeps_flask_s_answer_by_default(app_url, spans):
    """A 404 is Flask's own page for every client, nothing recorded, no header added."""
    _, url = app_url
    as_json = requests.get(f"{url}/nowhere", headers={"Accept": "application/json"}, timeout=5)
    assert as_json.status_code == 404
    assert as_json.headers["content-type"].startswith("text/html")
    assert "x-request-id" not in as_json.headers
    assert spans.exception_events() == []


def test_not_found_for_json_and_html_clients(app_url, spans, use_settings):
    """With problem details for all: JSON clients get WEB-404; browsers keep Flask's page."""
    use_settings(problem_details="all", request_id_echo=True)
    _, url = app_url
    as_json = requests.get(f"{url}/nowhere", headers={"Accept": "application/json"}, timeout=5)
    assert as_json.json()["code"] == "WEB-404"
    as_html = requests.get(f"{url}/nowhere", headers={"Accept": "text/html"}, timeout=5)
    assert as_html.headers["content-type"].startswith("text/html")
    assert as_html.headers["x-request-id"]
    assert spans.exception_events() == []


def _answer(app: Flask, route: str) -> tuple[int, str]:
    for url in serve(app):
        response = requests.get(f"{url}{route}", headers={"Accept": "application/json"}, timeout=5)
    return response.status_code, response.headers["content-type"]


@pytest.mark.parametrize(
    ("config", "route"),
    [
        ({"TRAP_HTTP_EXCEPTIONS": True}, "/gone"),
        ({"TRAP_BAD_REQUEST_ERRORS": True}, "/form"),
        ({"DEBUG": True}, "/form"),  # debug mode traps a missing form key
    ],
)
@pytest.mark.parametrize("mode", ["app_errors", "all"])
def test_flask_s_trapping_wins(spans, use_settings, config, route, mode):
    """Trapped HTTP exceptions get Flask's status; by default its whole answer, as without us."""

    def make() -> Flask:
        app = make_app()
        app.get("/form")(lambda: flask.request.form["missing"])
        app.config.update(config, PROPAGATE_EXCEPTIONS=False)
        return app

    vanilla = _answer(make(), route)
    use_settings(problem_details=mode)
    instrumentor = FlaskErrorsInstrumentor()
    instrumentor.instrument()
    try:
        ours = _answer(make(), route)
    finally:
        instrumentor.uninstrument()
    assert vanilla[0] == 500
    if mode == "app_errors":
        assert ours == vanilla
    else:
        assert ours == (500, "application/problem+json")


def test_request_id_on_the_server_span(spans, instrumented):
    """With contrib, the request id is on the server span, which ends OK for a 404."""
    app = make_app()
    FlaskInstrumentor().instrument_app(app)
    for url in serve(app):
        requests.get(f"{url}/nowhere", headers={"X-Request-ID": "r-9"}, timeout=5)
        spans.wait_for_kind(SpanKind.SERVER)
    FlaskInstrumentor().uninstrument_app(app)
    (server,) = [s for s in spans.all() if s.kind is SpanKind.SERVER]
    assert server.attributes["request.id"] == "r-9"
    assert server.status.status_code is StatusCode.UNSET


def test_applications_own_500_handler_stays(spans, instrumented):
    """An application's 500 handler is used; the error is still recorded by the span."""
    for url in serve(make_app(own_500_handler=True)):
        response = requests.get(f"{url}/bug", timeout=5)
    assert (response.status_code, response.text) == (500, "my own page")


def test_uninstrument_restores_flask(spans):
    """After uninstrument Flask answers with its own pages again."""
    original = Flask._find_error_handler
    FlaskErrorsInstrumentor().instrument()
    FlaskErrorsInstrumentor().uninstrument()
    assert Flask._find_error_handler is original
    for url in serve(make_app()):
        response = requests.get(f"{url}/bug", timeout=5)
    assert response.headers["content-type"].startswith("text/html")
    assert "x-request-id" not in response.headers


def test_request_counts_without_contrib(spans, instrumented, metric_points):
    """Without contrib, otel_errors records http.server.request.duration per route."""
    app = make_app()
    app.get("/flask-count/<int:n>")(lambda n: str(n))
    for url in serve(app):
        for n in range(2):
            requests.get(f"{url}/flask-count/{n}", timeout=5)
        requests.get(f"{url}/bug", timeout=5)
    counts = {
        (p.attributes.get("http.route"), p.attributes["http.response.status_code"]): p.count
        for p in metric_points("http.server.request.duration", raw=True, scope="otel_errors")
    }
    assert counts.get(("/flask-count/<int:n>", 200)) == 2, counts
    assert counts.get(("/bug", 500), 0) >= 1, counts
