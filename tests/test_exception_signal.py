"""OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN: exceptions as log records, span events, or both."""

from __future__ import annotations

import pytest
from opentelemetry._logs import SeverityNumber

from otel_errors import record_error
from otel_errors._internal.config.settings import Settings
from otel_errors._internal.recording import runtime


@pytest.fixture
def signal():
    previous = runtime.current()

    def install(value: str) -> None:
        runtime.install(
            runtime.Runtime(
                Settings.load(environ={}),
                registry=previous.registry,
                environ={"OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN": value},
            )
        )

    yield install
    runtime.install(previous)


def test_logs_only(spans, tracer, log_records, signal):
    """`logs` emits a log record with the same attributes, tied to the span, and no event."""
    signal("logs")
    with pytest.raises(TimeoutError), tracer.start_as_current_span("call") as span:
        raise TimeoutError("upstream slow")
    assert spans.exception_events() == []
    (record,) = [r.log_record for r in log_records.get_finished_logs()]
    assert record.event_name == "exception"
    assert record.severity_number is SeverityNumber.ERROR
    assert record.attributes["error.code"] == "GEN-001"
    assert record.attributes["exception.message"] == "upstream slow"
    assert record.trace_id == span.get_span_context().trace_id
    assert record.span_id == span.get_span_context().span_id
    assert spans.named("call").attributes["error.type"] == "GEN-001"


def test_logs_dup_emits_both(spans, tracer, log_records, signal):
    """`logs/dup` keeps the span event and adds the log record."""
    signal("logs/dup")
    with tracer.start_as_current_span("call"):
        record_error(ValueError("x"))
    assert len(spans.exception_events()) == 1
    (record,) = [r.log_record for r in log_records.get_finished_logs()]
    assert record.severity_number is SeverityNumber.WARN


def test_unknown_value_keeps_span_events_and_warns(spans, tracer, log_records, signal, caplog):
    """An unknown value is reported once when the recorder starts; events stay on spans."""
    signal("metrics")
    assert "OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN='metrics'" in caplog.text
    with tracer.start_as_current_span("call"):
        record_error(ValueError("x"))
    assert len(spans.exception_events()) == 1
    assert log_records.get_finished_logs() == ()
