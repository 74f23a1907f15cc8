"""Properties over hostile exceptions and every attribute value type (Hypothesis).

Through recording (``record_error`` and an exception escaping a span), classification,
the redacting exporter and the OTLP encoders: nothing raises into the caller, what is
exported encodes as OTLP protobuf and decodes back, the promised attributes have their
types, and fingerprints are deterministic. The strategies live in ``_strategies``.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from _strategies import attribute_values, attributes, exceptions, leaves, messages
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

import otel_errors
from otel_errors._internal.config.settings import Settings
from otel_errors._internal.export.redaction import RedactingSpanExporter
from otel_errors._internal.pipeline.span_export import ExportSpanProcessor
from otel_errors._internal.recording import runtime
from otel_errors._internal.recording.runtime import current

PROPERTIES = settings(
    max_examples=150,
    deadline=None,  # huge messages and 40-deep chains take their time
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        # The fixtures used here are set once for all examples on purpose (a recorder,
        # the session's readers); each example clears what it reads.
        HealthCheck.function_scoped_fixture,
    ],
)
FINGERPRINT = re.compile(r"[0-9a-f]{16}")
TYPES = {
    "exception.type": str,
    "exception.message": str,
    "exception.stacktrace": str,
    "error.code": str,
    "error.severity": str,
    "error.category": str,
    "error.kind": str,
    "error.retryable": bool,
    "error.fingerprint": str,
    "error.fingerprint.version": str,
    "error.handled": bool,
}

_EXPORTER = InMemorySpanExporter()
_PROVIDER = TracerProvider()
_PROVIDER.add_span_processor(
    ExportSpanProcessor(SimpleSpanProcessor(RedactingSpanExporter(_EXPORTER, current().redactor)))
)
_TRACER = _PROVIDER.get_tracer("properties")


def _exported_spans() -> list[Any]:
    spans = list(_EXPORTER.get_finished_spans())
    _EXPORTER.clear()
    return spans


def _round_trip(request: Any, message_type: type) -> Any:
    """Serialises an OTLP request and parses it back, as the collector would."""
    return message_type.FromString(request.SerializeToString())


def _printable(exc: BaseException) -> bool:
    try:
        str(exc)
    except Exception:
        return False
    return True


def _check_events(spans: list[Any]) -> None:
    events = [dict(e.attributes) for s in spans for e in s.events if e.name == "exception"]
    assert events
    for event in events:
        for key, kind in TYPES.items():
            assert isinstance(event[key], kind), (key, event[key])
        assert FINGERPRINT.fullmatch(str(event["error.fingerprint"]))


@PROPERTIES
@given(exc=exceptions, attrs=attributes)
def test_recording_never_raises_and_exports_valid_otlp(exc, attrs):
    """Any exception, with any attributes, is recorded without raising and exports as OTLP."""
    _exported_spans()
    extra = {k: v for k, v in attrs.items() if k not in TYPES}  # the caller's keys win
    with _TRACER.start_as_current_span("operation", attributes=attrs):
        entry = otel_errors.record_error(exc, attributes=extra)
        otel_errors.record_error(exc, handled=False)
    assert entry.code in current().registry.catalog or entry.code == "UNKNOWN"
    if _printable(exc):
        # The API's use_span formats f"{type(exc).__name__}: {exc}" for the span status:
        # a __str__ that raises replaces the exception there, with or without otel_errors.
        with pytest.raises(BaseException) as escaped, _TRACER.start_as_current_span("escape"):
            raise exc
        assert escaped.value is exc
    spans = _exported_spans()
    _check_events(spans)
    decoded = _round_trip(encode_spans(spans), ExportTraceServiceRequest)
    assert sum(len(s.spans) for r in decoded.resource_spans for s in r.scope_spans) == len(spans)


@PROPERTIES
@given(exc=exceptions)
def test_classification_and_fingerprint_are_deterministic(exc):
    """The same exception always gets the same code and fingerprint."""
    recorder = runtime.get_recorder()
    first, entry = recorder.attributes(exc, handled=True)
    second, again = recorder.attributes(exc, handled=True)
    assert entry == again == recorder.classify(exc)
    assert first["error.fingerprint"] == second["error.fingerprint"]


def _fail(message: str) -> None:
    raise TimeoutError(message)


def _caught(message: str) -> BaseException:
    try:
        _fail(message)
    except TimeoutError as exc:
        return exc
    raise AssertionError("_fail returned")


@PROPERTIES
@given(one=messages, other=messages)
def test_the_fingerprint_ignores_the_message(one, other):
    """Two failures at the same place with different messages share their fingerprint."""
    recorder = runtime.get_recorder()
    found = [
        recorder.attributes(_caught(m), handled=False)[0]["error.fingerprint"] for m in (one, other)
    ]
    assert found[0] == found[1]


Shaky = type(
    "Shaky",
    (otel_errors.AppError,),
    {},
    code=otel_errors.ErrorCode("PROP-001", title="Shaky", http_status=503, severity="P3"),
)


@PROPERTIES
@given(context=st.dictionaries(st.text(max_size=20), st.one_of(attribute_values, messages)))
def test_app_error_context_of_any_value_exports_as_otlp(context):
    """An AppError's keyword context of any value becomes error.context.* attributes that encode."""
    _exported_spans()
    with _TRACER.start_as_current_span("operation"):
        otel_errors.record_error(Shaky("shaky", **{f"k{i}": v for i, v in enumerate(context)}))
    spans = _exported_spans()
    _check_events(spans)
    _round_trip(encode_spans(spans), ExportTraceServiceRequest)


@PROPERTIES
@given(route=attribute_values, exc=leaves())
def test_the_errors_counter_encodes_whatever_the_endpoint_attribute_holds(
    route, exc, metric_points, metric_data
):
    """The errors counter's endpoint attribute may hold any value; its points still encode."""
    with _TRACER.start_as_current_span("request", kind=SpanKind.SERVER) as span:
        span.set_attribute("http.route", route)
        otel_errors.record_error(exc, handled=False)
    _exported_spans()
    assert metric_points("errors", raw=True)
    _round_trip(encode_metrics(metric_data()), ExportMetricsServiceRequest)


@pytest.fixture
def as_log_records():
    """Exceptions travel as log records too (semantic conventions 1.40+, ``logs/dup``)."""
    previous = runtime.current()
    runtime.install(
        runtime.Runtime(
            Settings.load(environ={}),
            registry=previous.registry,
            environ={"OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN": "logs/dup"},
        )
    )
    yield
    runtime.install(previous)


@PROPERTIES
@given(exc=exceptions)
def test_exceptions_as_log_records_encode_as_otlp(exc, as_log_records, log_records):
    """Recorded as log records, hostile exceptions still give valid OTLP logs."""
    log_records.clear()
    with _TRACER.start_as_current_span("operation"):
        otel_errors.record_error(exc)
    _exported_spans()
    records = log_records.get_finished_logs()
    assert records
    _round_trip(encode_logs(records), ExportLogsServiceRequest)
