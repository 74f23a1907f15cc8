"""pybreaker: transitions as events and metrics, rejected calls recorded as RES-001.

The guarded operation is a real TCP connection on 127.0.0.1: to a socket that
listens (success) or to one that is bound but never listens (refused). Breakers get
a name per test, because the metrics are cumulative over the session.
"""

from __future__ import annotations

import socket

import pybreaker
import pytest
from opentelemetry.trace import StatusCode

import otel_errors
from otel_errors.integrations.pybreaker import instrumentor as pybreaker_instrumentation
from otel_errors.integrations.pybreaker.instrumentor import PyBreakerErrorsInstrumentor


@pytest.fixture
def instrumented():
    instrumentor = PyBreakerErrorsInstrumentor()
    instrumentor.instrument()
    yield instrumentor
    instrumentor.uninstrument()


@pytest.fixture
def ports():
    """``(listening, refused)`` ports on 127.0.0.1."""
    listening, refused = socket.socket(), socket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen(16)
    refused.bind(("127.0.0.1", 0))
    yield listening.getsockname()[1], refused.getsockname()[1]
    listening.close()
    refused.close()


def _connect(port: int) -> str:
    socket.create_connection(("127.0.0.1", port), timeout=5).close()
    return "connected"


def _transitions(spans) -> list[tuple[str, str, str]]:
    return [
        (
            e.attributes["circuit_breaker.name"],
            e.attributes["circuit_breaker.state.from"],
            e.attributes["circuit_breaker.state.to"],
        )
        for s in spans.all()
        for e in s.events
        if e.name == "circuit_breaker.state_change"
    ]


def _trip(breaker: pybreaker.CircuitBreaker, refused: int) -> None:
    """Fails until the breaker opens (fail_max calls; the last raises CircuitBreakerError)."""
    for _ in range(breaker.fail_max - 1):
        with pytest.raises(ConnectionRefusedError):
            breaker.call(_connect, refused)
    with pytest.raises(pybreaker.CircuitBreakerError):
        breaker.call(_connect, refused)


def test_a_breaker_lifecycle_gives_events_counts_and_a_state_gauge(
    instrumented, spans, tracer, ports, metric_points
):
    """Closed, open, half-open, closed: each transition is an event, a count and a gauge value."""
    listening, refused = ports
    breaker = pybreaker.CircuitBreaker(fail_max=2, reset_timeout=60, name="lifecycle")
    with tracer.start_as_current_span("request"):
        _trip(breaker, refused)
    assert _transitions(spans) == [("lifecycle", "closed", "open")]
    assert {"circuit_breaker.name": "lifecycle"} in [
        a for a, v in metric_points("circuit_breaker.state") if v == 2
    ]
    breaker.reset_timeout = 0
    with tracer.start_as_current_span("trial"):
        assert breaker.call(_connect, listening) == "connected"
    assert _transitions(spans)[1:] == [
        ("lifecycle", "open", "half-open"),
        ("lifecycle", "half-open", "closed"),
    ]
    counted = {
        (a["circuit_breaker.state.from"], a["circuit_breaker.state.to"]): v
        for a, v in metric_points("circuit_breaker.transitions")
        if a["circuit_breaker.name"] == "lifecycle"
    }
    assert counted == {("closed", "open"): 1, ("open", "half-open"): 1, ("half-open", "closed"): 1}
    gauge = {a["circuit_breaker.name"]: v for a, v in metric_points("circuit_breaker.state")}
    assert gauge["lifecycle"] == 0


def test_a_rejected_call_is_recorded_as_res_001_with_retry_after(
    instrumented, spans, tracer, ports
):
    """A call refused by an open breaker: RES-001 with error.retry_after on a span of its own."""
    _, refused = ports
    breaker = pybreaker.CircuitBreaker(fail_max=1, reset_timeout=60, name="rejecting")
    _trip(breaker, refused)
    spans_before = len(spans.all())
    with pytest.raises(pybreaker.CircuitBreakerError) as raised, tracer.start_as_current_span("r"):
        breaker.call(_connect, refused)
    assert "still open" in str(raised.value)
    request = spans.named("r")
    rejected = spans.named("circuit_breaker.rejected")
    assert rejected.parent.span_id == request.context.span_id
    assert rejected.attributes["circuit_breaker.name"] == "rejecting"
    assert rejected.status.status_code is StatusCode.ERROR
    (event,) = [dict(e.attributes) for e in rejected.events if e.name == "exception"]
    assert event["exception.type"] == "pybreaker.CircuitBreakerError"
    assert (event["error.code"], event["error.category"]) == ("RES-001", "transient")
    assert (event["error.retryable"], event["error.handled"]) == (True, False)
    assert 0 < event["error.retry_after"] <= 60
    assert request.status.status_code is StatusCode.ERROR
    assert request.attributes["error.type"] == "RES-001"
    assert [e.name for e in request.events] == []
    assert len(spans.all()) == spans_before + 2


def test_handle_falls_back_when_the_circuit_is_open(instrumented, spans, tracer, ports):
    """handle() around a breaker call returns the fallback; the request span stays OK."""
    _, refused = ports
    breaker = pybreaker.CircuitBreaker(fail_max=1, reset_timeout=60, name="fallback")
    _trip(breaker, refused)

    @otel_errors.handle(pybreaker.CircuitBreakerError, fallback="cached")
    def price() -> str:
        return breaker.call(_connect, refused)

    with tracer.start_as_current_span("request"):
        assert price() == "cached"
    request = spans.named("request")
    assert request.status.status_code is StatusCode.UNSET
    assert "error.type" not in (request.attributes or {})
    rejected = spans.named("circuit_breaker.rejected")
    assert [e.attributes["error.code"] for e in rejected.events] == ["RES-001"]


def test_a_failing_trial_call_is_not_a_rejection(instrumented, spans, tracer, ports):
    """When the half-open trial call fails and re-opens the circuit, nothing is 'rejected'."""
    _, refused = ports
    breaker = pybreaker.CircuitBreaker(fail_max=1, reset_timeout=60, name="trial")
    _trip(breaker, refused)
    breaker.reset_timeout = 0
    with (
        pytest.raises(pybreaker.CircuitBreakerError, match="Trial call failed"),
        tracer.start_as_current_span("request"),
    ):
        breaker.call(_connect, refused)
    assert [s.name for s in spans.all()] == ["request"]
    assert _transitions(spans) == [("trial", "open", "half-open"), ("trial", "half-open", "open")]
    (event,) = [dict(e.attributes) for e in spans.named("request").events if e.name == "exception"]
    assert (event["error.code"], event["error.handled"]) == ("RES-001", False)


def test_breaker_errors_are_res_001_without_the_instrumentor():
    """CircuitBreakerError is classified by its class name alone: no instrumentor, no import."""
    entry = otel_errors.classify(pybreaker.CircuitBreakerError("still open"))
    assert (entry.code, entry.http_status, entry.is_retryable) == ("RES-001", 503, True)


def test_uninstrument_removes_the_listener_and_restores_the_methods(spans, ports):
    """After uninstrument, breakers lose our listener and pybreaker's methods are its own."""
    _, refused = ports
    originals = (
        vars(pybreaker.CircuitBreaker)["__init__"],
        vars(pybreaker.CircuitOpenState)["before_call"],
    )
    instrumentor = PyBreakerErrorsInstrumentor()
    instrumentor.instrument()
    breaker = pybreaker.CircuitBreaker(fail_max=1, name="uninstrumented")
    assert len(breaker.listeners) == 1
    instrumentor.uninstrument()
    assert breaker.listeners == ()
    assert (
        vars(pybreaker.CircuitBreaker)["__init__"],
        vars(pybreaker.CircuitOpenState)["before_call"],
    ) == originals
    _trip(breaker, refused)
    with pytest.raises(pybreaker.CircuitBreakerError):
        breaker.call(_connect, refused)
    assert spans.all() == []


def test_failures_inside_the_instrumentor_never_reach_the_application(
    instrumented, spans, ports, monkeypatch, metric_points
):
    """With recording and counting broken, the breaker behaves exactly as without us."""

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("exploded")

    monkeypatch.setattr(pybreaker_instrumentation, "current", broken)
    monkeypatch.setattr(pybreaker_instrumentation, "get_recorder", broken)
    listening, refused = ports
    breaker = pybreaker.CircuitBreaker(fail_max=1, reset_timeout=60, name="broken")
    _trip(breaker, refused)
    with pytest.raises(pybreaker.CircuitBreakerError, match="still open"):
        breaker.call(_connect, refused)
    breaker.reset_timeout = 0
    assert breaker.call(_connect, listening) == "connected"
    assert breaker.current_state == "closed"
    failures = {a["component"] for a, _ in metric_points("otel_errors.internal_failures")}
    assert {"pybreaker.state_change", "pybreaker.rejection"} <= failures
