"""Django: answers kept by default, problem details on request, request ids.

Errors are recorded once, and as unhandled when they escape, with and without contrib.

A real Django WSGI handler served by werkzeug on 127.0.0.1, real HTTP requests.
Settings are configured here, once for the test session (nothing else uses Django).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

import django
import pytest
import requests
from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import path

import otel_errors

if not settings.configured:
    settings.configure(
        DEBUG=False,
        ALLOWED_HOSTS=["127.0.0.1"],
        ROOT_URLCONF=__name__,
        MIDDLEWARE=[],
        SECRET_KEY="test-only",  # noqa: S106 - a throwaway key for the test project
        LOGGING_CONFIG=None,
    )
    django.setup()

from django.core.handlers.wsgi import WSGIHandler
from opentelemetry.instrumentation.django import DjangoInstrumentor
from opentelemetry.trace import SpanKind
from werkzeug.serving import make_server

from otel_errors._internal.recording import upstream
from otel_errors.integrations.django.instrumentor import MIDDLEWARE, DjangoErrorsInstrumentor
from otel_errors.integrations.process_hooks.instrumentor import ProcessHooksErrorsInstrumentor


class Frozen(otel_errors.AppError, code="GEN-002"):
    """An AppError with a 500 status (permission denied on our side)."""


def bug(request: HttpRequest) -> HttpResponse:
    return HttpResponse(str(1 // 0))


def frozen(request: HttpRequest) -> HttpResponse:
    raise Frozen("account 9 frozen by compliance")


def gone(request: HttpRequest) -> HttpResponse:
    raise Http404("no such order")


async def async_bug(request: HttpRequest) -> HttpResponse:
    return HttpResponse({}["missing"])


def upstream_failed(request: HttpRequest) -> HttpResponse:
    """Fails on a payment service's PAY-001 (as the requests instrumentor would have read it)."""
    try:
        failure = ConnectionError("payments answered 503")
        upstream.attach(failure, upstream.Upstream("PAY-001", "payments", "payments", "PAY-001"))
        raise failure
    except ConnectionError as exc:
        raise Frozen("order 5 failed") from exc


def logged(request: HttpRequest) -> HttpResponse:
    try:
        return HttpResponse(str(1 // 0))
    except ZeroDivisionError:
        logging.getLogger("tests.django.views").exception("division failed")
        raise


urlpatterns = [
    path("bug", bug),
    path("frozen", frozen),
    path("gone", gone),
    path("abug", async_bug),
    path("logged", logged),
    path("upstream-failed", upstream_failed),
]


def serve() -> Iterator[str]:
    server = make_server("127.0.0.1", 0, WSGIHandler(), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.port}"
    server.shutdown()


@pytest.fixture(params=["with-contrib", "without-contrib"])
def url(request) -> Iterator[str]:
    if request.param == "with-contrib":
        DjangoInstrumentor().instrument()
    DjangoErrorsInstrumentor().instrument()
    hooks = ProcessHooksErrorsInstrumentor()  # Django logs an escaped exception before answering
    hooks.instrument()
    yield from serve()
    hooks.uninstrument()
    DjangoErrorsInstrumentor().uninstrument()
    if request.param == "with-contrib":
        DjangoInstrumentor().uninstrument()
    settings.MIDDLEWARE = []


def _event(spans) -> dict[str, object]:
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


@pytest.mark.parametrize(
    ("route", "code"), [("bug", "BUG-005"), ("abug", "BUG-003"), ("logged", "BUG-005")]
)
def test_unhandled_exception_keeps_django_s_page_and_is_unhandled(
    url, spans, metric_points, route, code
):
    """Sync, async and logged-then-raised: Django's 500 page; one unhandled event and count."""
    before = _errors_by_handled(metric_points, code)
    response = requests.get(f"{url}/{route}", headers={"X-Request-ID": "dj-0"}, timeout=5)
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/html")
    assert "x-request-id" not in response.headers
    event = _event(spans)
    assert (event["error.code"], event["error.handled"]) == (code, False)
    after = _errors_by_handled(metric_points, code)
    assert (after[False] - before[False], after[True] - before[True]) == (1, 0)


@pytest.mark.parametrize(("route", "code"), [("bug", "BUG-005"), ("abug", "BUG-003")])
def test_unhandled_exception_becomes_a_problem_when_asked(url, spans, use_settings, route, code):
    """With problem details for all: 500 problem+json with request and trace ids; one event."""
    use_settings(problem_details="all")
    response = requests.get(f"{url}/{route}", headers={"X-Request-ID": "dj-1"}, timeout=5)
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-request-id"] == "dj-1"
    body = response.json()
    assert (body["code"], body["request_id"], len(body["trace_id"])) == (code, "dj-1", 32)
    assert "Traceback" not in response.text
    event = _event(spans)
    assert (event["error.code"], event["error.handled"]) == (code, False)


def test_app_error_problem(url, spans):
    """An AppError answers with its catalogue status and public message only, by default."""
    response = requests.get(f"{url}/frozen", timeout=5)
    assert response.status_code == 500
    body = response.json()
    assert (body["code"], body["detail"]) == (
        "GEN-002",
        "The service is not allowed to perform this operation.",
    )
    assert "account 9" not in response.text
    assert _event(spans)["error.code"] == "GEN-002"


def test_app_error_to_a_browser_keeps_django_s_page(url, spans):
    """A client that prefers HTML never gets a problem: Django's 500 page."""
    response = requests.get(f"{url}/frozen", headers={"Accept": "text/html"}, timeout=5)
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/html")
    assert _event(spans)["error.handled"] is False


def test_http404_keeps_django_s_answer_by_default(url, spans):
    """Http404 is Django's own 404 for every client by default, and not recorded."""
    as_json = requests.get(f"{url}/gone", headers={"Accept": "application/json"}, timeout=5)
    assert as_json.status_code == 404
    assert as_json.headers["content-type"].startswith("text/html")
    assert spans.exception_events() == []


def test_http404_for_json_and_html_clients(url, spans, use_settings):
    """With problem details for all: WEB-404 problem for JSON clients, Django's page for HTML."""
    use_settings(problem_details="all")
    as_json = requests.get(f"{url}/gone", headers={"Accept": "application/json"}, timeout=5)
    assert (as_json.status_code, as_json.json()["code"]) == (404, "WEB-404")
    as_html = requests.get(f"{url}/gone", headers={"Accept": "text/html"}, timeout=5)
    assert as_html.status_code == 404
    assert as_html.headers["content-type"].startswith("text/html")
    assert spans.exception_events() == []


def _wire(response: requests.Response) -> dict[str, str]:
    return {
        k.title(): v for k, v in response.headers.items() if k.lower().startswith("otel-errors")
    }


def test_propagation_off_adds_no_header(url, spans):
    """By default no answer carries an Otel-Errors header or an origin member."""
    for route in ("bug", "frozen", "gone", "upstream-failed"):
        response = requests.get(f"{url}/{route}", timeout=5)
        assert _wire(response) == {}, route
        assert "origin_service" not in response.text


def test_propagation_names_the_origin(url, spans, use_settings):
    """On: Django's 500 page names this service; a problem from an upstream failure names it."""
    use_settings(propagate_errors=True)
    me = _wire(requests.get(f"{url}/bug", timeout=5))
    assert me["Otel-Errors-Service"] == me["Otel-Errors-Origin"]
    assert me["Otel-Errors-Code"] == me["Otel-Errors-Origin-Code"] == "BUG-005"
    page = requests.get(f"{url}/bug", timeout=5)
    assert page.headers["content-type"].startswith("text/html")
    response = requests.get(f"{url}/upstream-failed", timeout=5)
    assert response.status_code == 500
    assert _wire(response)["Otel-Errors-Origin"] == "payments"
    body = response.json()
    assert (body["code"], body["origin_service"], body["origin_code"]) == (
        "GEN-002", "payments", "PAY-001"
    )  # fmt: skip
    html = requests.get(f"{url}/upstream-failed", headers={"Accept": "text/html"}, timeout=5)
    assert html.headers["content-type"].startswith("text/html")
    assert _wire(html)["Otel-Errors-Origin-Code"] == "PAY-001"


def test_middleware_sits_inside_contribs(spans):
    """Our middleware goes right after contrib's, so the server span is current in it."""
    DjangoInstrumentor().instrument()
    DjangoErrorsInstrumentor().instrument()
    try:
        for base in serve():
            requests.get(f"{base}/gone", headers={"X-Request-ID": "dj-2"}, timeout=5)
            spans.wait_for_kind(SpanKind.SERVER)
        assert settings.MIDDLEWARE.index(MIDDLEWARE) == 1
    finally:
        DjangoErrorsInstrumentor().uninstrument()
        DjangoInstrumentor().uninstrument()
        settings.MIDDLEWARE = []
    (server,) = [s for s in spans.all() if s.kind is SpanKind.SERVER]
    assert server.attributes["request.id"] == "dj-2"


def test_uninstrument_removes_the_middleware(spans):
    """After uninstrument Django answers with its own 500 page."""
    DjangoErrorsInstrumentor().instrument()
    for base in serve():
        requests.get(f"{base}/gone", timeout=5)
    DjangoErrorsInstrumentor().uninstrument()
    assert MIDDLEWARE not in settings.MIDDLEWARE
    for base in serve():
        response = requests.get(f"{base}/bug", timeout=5)
    assert response.headers["content-type"].startswith("text/html")


def test_request_counts_only_without_contrib(url, spans, metric_points, request):
    """otel_errors counts Django requests itself only when contrib's middleware is absent."""

    def ours() -> int:
        points = metric_points("http.server.request.duration", raw=True, scope="otel_errors")
        return sum(p.count for p in points if p.attributes.get("http.route") == "bug")

    before = ours()
    requests.get(f"{url}/bug", timeout=5)
    _event(spans)
    with_contrib = "with-contrib" in request.node.callspec.id
    assert ours() - before == (0 if with_contrib else 1)
