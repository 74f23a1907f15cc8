"""The errors counter: attributes, endpoint from the request, exemplars, cardinality bound."""

from __future__ import annotations

import pytest
from opentelemetry.trace import SpanKind

import otel_errors
from otel_errors._internal.recording import runtime
from otel_errors._internal.recording.error_metrics import ErrorMetrics


def _errors(metric_points, **match):
    return [
        (attributes, value)
        for attributes, value in metric_points("errors")
        if all(attributes.get(k) == v for k, v in match.items())
    ]


def test_error_on_an_inner_span_counts_against_the_request_route(spans, tracer, metric_points):
    """An error in a child span is counted with the server span's http.route, once."""
    with (
        tracer.start_as_current_span(
            "GET /metrics-a/{id}",
            kind=SpanKind.SERVER,
            attributes={"http.route": "/metrics-a/{id}"},
        ),
        tracer.start_as_current_span("SELECT", attributes={"db.operation.name": "SELECT"}),
        pytest.raises(TimeoutError),
        tracer.start_as_current_span("inner"),
    ):
        raise TimeoutError
    ((attributes, value),) = _errors(metric_points, **{"http.route": "/metrics-a/{id}"})
    assert value == 1
    assert attributes == {
        "error.code": "GEN-001",
        "error.severity": "P3",
        "error.category": "transient",
        "exception.type": "TimeoutError",
        "error.handled": False,
        "http.route": "/metrics-a/{id}",
    }


def test_without_a_request_the_operation_is_the_endpoint(spans, tracer, metric_points):
    """Outside any request, the recording span's own operation attribute is used."""
    with tracer.start_as_current_span("job", attributes={"code.function.name": "nightly_b"}):
        otel_errors.record_error(KeyError("k"))
    ((attributes, value),) = _errors(metric_points, **{"code.function.name": "nightly_b"})
    assert (attributes["error.code"], attributes["error.handled"], value) == ("BUG-003", True, 1)


def test_exemplar_links_the_count_to_the_trace(spans, tracer, metric_points):
    """The data point carries an exemplar with the recording span's trace id."""
    with tracer.start_as_current_span(
        "job", attributes={"code.function.name": "exemplar_c"}
    ) as span:
        otel_errors.record_error(ValueError("x"))
    trace_id = span.get_span_context().trace_id
    (point,) = [
        p
        for p in metric_points("errors", raw=True)
        if p.attributes.get("code.function.name") == "exemplar_c"
    ]
    assert trace_id in {e.trace_id for e in point.exemplars}


def test_cardinality_is_bounded_with_overflow_and_one_warning(spans, tracer, metric_points, caplog):
    """Past the limit new attribute sets count as OVERFLOW, keeping the severity."""
    active = runtime.current()
    limited = ErrorMetrics(3, active.local_roots, lambda: active.redactor)
    entry = otel_errors.get_catalog()["NET-001"]
    for i in range(6):
        with tracer.start_as_current_span(
            "call", attributes={"http.route": f"/overflow-d/{i}"}
        ) as span:
            limited.count(span, entry, "ConnectionRefusedError", handled=False)
    assert len(_errors(metric_points, **{"error.code": "NET-001"})) >= 3
    assert (
        len([a for a, _ in metric_points("errors") if "overflow-d" in str(a.get("http.route"))])
        == 3
    )
    overflow = _errors(metric_points, **{"error.code": "OVERFLOW"})
    assert overflow == [({"error.code": "OVERFLOW", "error.severity": "P2"}, 3)]
    assert caplog.text.count("reached 3 attribute sets") == 1


def test_errors_in_traces_that_are_not_sampled_are_still_counted(spans, metric_points):
    """Head sampling drops the span, not the count: each exception is counted once."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

    unsampled = TracerProvider(sampler=ALWAYS_OFF).get_tracer("tests")
    before = sum(v for _, v in _errors(metric_points, **{"exception.type": "InterruptedError"}))
    with pytest.raises(InterruptedError), unsampled.start_as_current_span("dropped") as span:
        assert not span.is_recording()
        try:
            raise InterruptedError
        except InterruptedError as exc:
            otel_errors.record_error(exc, handled=False)
            raise
    after = sum(v for _, v in _errors(metric_points, **{"exception.type": "InterruptedError"}))
    assert after - before == 1
    assert spans.all() == []
