"""Redaction where telemetry leaves the process: span and log exporters, metrics, JSON logs.

Spans come from a real SDK ``TracerProvider`` (with otel_errors' recorder), logs from
the SDK ``LoggingHandler``; the in-memory exporters stand where OTLP would be.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode

from otel_errors._internal.config.settings import Settings
from otel_errors._internal.export.redaction import (
    REDACTIONS_METRIC,
    RedactingLogExporter,
    RedactingSpanExporter,
    redact_span,
)
from otel_errors._internal.names import INTERNAL_FAILURES_METRIC
from otel_errors._internal.pipeline import redaction_setup
from otel_errors._internal.pipeline.span_export import ExportSpanProcessor
from otel_errors._internal.recording import runtime
from otel_errors._internal.scrubbing import RedactionConfig, Redactor
from otel_errors.logging import JsonFormatter

SECRETS = ("hunter2", "4111 1111 1111 1111", "jane@example.com", "abc12345token")


@pytest.fixture
def redactor() -> Redactor:
    return Redactor(RedactionConfig.build(hash_key="pipeline"))


@pytest.fixture
def pipeline(redactor):
    """A tracer whose spans go through the redacting exporter into memory."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(
        ExportSpanProcessor(SimpleSpanProcessor(RedactingSpanExporter(exporter, redactor)))
    )
    yield provider.get_tracer("redaction-tests"), exporter
    provider.shutdown()


def exported_text(spans) -> str:
    """Everything an exporter would serialise from ``spans``."""
    parts = []
    for span in spans:
        parts += [span.name, str(span.status.description), str(dict(span.attributes or {}))]
        parts += [str(dict(e.attributes or {})) for e in span.events]
        parts += [str(dict(link.attributes or {})) for link in span.links]
    return "\n".join(parts)


def rule_counts(metric_points) -> dict[str, int]:
    return {attrs["rule"]: value for attrs, value in metric_points(REDACTIONS_METRIC)}


def test_every_part_of_a_span_is_redacted(pipeline, metric_points):
    """Name, attributes, status description, exception event and link attributes."""
    tracer, exporter = pipeline
    before = rule_counts(metric_points)
    linked = tracer.start_span("linked").get_span_context()
    with pytest.raises(ValueError, match="hunter2"):  # the application sees its own error
        with tracer.start_as_current_span(
            "GET /reset?token=abc12345token",
            kind=SpanKind.SERVER,
            attributes={"http.request.header.authorization": ("Bearer abc12345token",),
                        "db.query.text": "SELECT 1 FROM users WHERE email = 'jane@example.com'",
                        "http.route": "/reset"},
            links=[Link(linked, {"note": "card 4111 1111 1111 1111"})],
        ):  # fmt: skip
            raise ValueError("login failed: password=hunter2 for jane@example.com")
    (span,) = exporter.get_finished_spans()
    text = exported_text([span])
    for secret in SECRETS:
        assert secret not in text, secret
    (event,) = span.events
    assert event.attributes["exception.type"] == "ValueError"
    assert "[REDACTED:key_value]" in event.attributes["exception.message"]
    assert "[REDACTED:email]" in event.attributes["exception.stacktrace"]
    assert span.attributes["http.route"] == "/reset"
    after = rule_counts(metric_points)
    for rule in ("key_value", "email", "secret_key", "card"):
        assert after.get(rule, 0) > before.get(rule, 0), (rule, after)


def test_database_detail_is_cleaned_in_the_status_description(pipeline):
    """The PostgreSQL DETAIL value the SDK copies into the span status leaves no trace."""
    tracer, exporter = pipeline
    message = (
        'duplicate key value violates unique constraint "orders_ref_key"\n'
        "DETAIL:  Key (ref)=(order-2026-0001) already exists."
    )
    with pytest.raises(RuntimeError), tracer.start_as_current_span("INSERT shop"):
        raise RuntimeError(message)
    (span,) = exporter.get_finished_spans()
    assert "order-2026-0001" not in str(span.status.description)
    assert "Key (ref)=([REDACTED:database_value])" in str(span.status.description)
    assert "order-2026-0001" not in span.events[0].attributes["exception.message"]


def test_names_and_resources_go_through_the_engine(redactor):
    """Span name, event names and resource attributes are exported strings like any other."""
    resource = Resource({"service.name": "shop", "process.command_line": "app --password hunter2"})
    span = ReadableSpan(
        name="GET /reset?token=abc12345token",
        resource=resource,
        events=(Event("mail sent to jane@example.com", {}),),
    )
    exported = redact_span(span, redactor, [])
    assert exported.name == "GET /reset?token=[REDACTED:key_value]"
    assert exported.events[0].name == "mail sent to [REDACTED:email]"
    assert "hunter2" not in str(exported.resource.attributes)
    assert redact_span(span, redactor, []).resource is exported.resource  # redacted once


def test_a_span_of_another_class_is_redacted_from_its_properties(redactor):
    """A span that is not the SDK's own ``ReadableSpan`` (a subclass) is read field by field."""

    class OwnSpan(ReadableSpan):
        pass

    span = OwnSpan(
        name="GET /reset?token=abc12345token",
        attributes={"db.statement": "SELECT 1 -- mail jane@example.com", "n": 1},
        status=Status(StatusCode.ERROR, "sent to jane@example.com"),
    )
    exported = redact_span(span, redactor, [])
    assert exported.name == "GET /reset?token=[REDACTED:key_value]"
    assert exported.attributes == {"db.statement": "SELECT 1 -- mail [REDACTED:email]", "n": 1}
    assert exported.status.description == "sent to [REDACTED:email]"


class _OwnSpan(ReadableSpan):
    """Not the SDK's own class: read through its properties."""


@pytest.mark.parametrize("span_class", [ReadableSpan, _OwnSpan])
def test_a_rebuilt_span_keeps_everything_the_redaction_left_alone(redactor, span_class):
    """Context, parent, kind, times and scope are copied as the span holds them."""
    context = SpanContext(trace_id=0xABC, span_id=0x12, is_remote=False)
    parent = SpanContext(trace_id=0xABC, span_id=0x34, is_remote=True)
    scope = InstrumentationScope("shop.orders", "1.2", "https://schema", {"team": "pay"})
    span = span_class(
        name="POST /orders",
        context=context,
        parent=parent,
        attributes={"url.full": "https://shop.example.com/?token=abc12345token"},
        kind=SpanKind.CLIENT,
        start_time=1_700_000_000_000_000_001,
        end_time=1_700_000_000_500_000_002,
        instrumentation_scope=scope,
    )
    exported = redact_span(span, redactor, [])
    assert exported is not span
    assert exported.attributes == {
        "url.full": "https://shop.example.com/?token=[REDACTED:key_value]"
    }
    assert (exported.context, exported.parent, exported.kind) == (context, parent, SpanKind.CLIENT)
    assert (exported.start_time, exported.end_time) == (span.start_time, span.end_time)
    assert exported.instrumentation_scope is scope
    assert (exported.name, exported.resource) == (span.name, span.resource)


def test_clean_spans_are_exported_as_they_are(pipeline):
    tracer, exporter = pipeline
    with tracer.start_as_current_span("GET /health", attributes={"http.route": "/health"}):
        pass
    (span,) = exporter.get_finished_spans()
    assert span.name == "GET /health"
    assert dict(span.attributes) == {"http.route": "/health"}


@pytest.mark.parametrize("limit", [0, 1])
def test_a_rebuilt_span_keeps_its_events_links_and_dropped_counts(redactor, limit):
    """A span rebuilt for a secret in its name keeps what its lists held and dropped.

    Empty event and link lists are read as ``()`` (``sdk_internals.finished_fields``):
    with a limit of 0 they are empty yet dropped one each, which must still show.
    """
    exporter = InMemorySpanExporter()
    provider = TracerProvider(span_limits=SpanLimits(max_events=limit, max_links=limit))
    provider.add_span_processor(
        ExportSpanProcessor(SimpleSpanProcessor(RedactingSpanExporter(exporter, redactor)))
    )
    tracer = provider.get_tracer("redaction-tests")
    linked = tracer.start_span("linked").get_span_context()
    with tracer.start_as_current_span(
        "GET /login?password=hunter2secret", links=[Link(linked)]
    ) as span:
        span.add_event("retry", {"attempt": 2})
    provider.shutdown()
    exported = exporter.get_finished_spans()[-1]
    assert "hunter2secret" not in exported.name
    assert (len(exported.events), exported.dropped_events) == (limit, 1 - limit)
    assert (len(exported.links), exported.dropped_links) == (limit, 1 - limit)


def test_a_span_that_cannot_be_redacted_is_dropped_and_counted(metric_points):
    """Never exported in clear: the span is lost, and otel_errors.internal_failures says so."""

    class Broken:
        """The engine with one failure: a wrapper, since a compiled class takes no subclass."""

        def __init__(self, engine):
            self._engine = engine

        def __getattr__(self, name):
            return getattr(self._engine, name)

        def attributes_into(self, attributes, fired):
            if attributes and "boom" in attributes:
                raise RuntimeError("redaction bug")
            return self._engine.attributes_into(attributes, fired)

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    broken = Broken(Redactor(RedactionConfig.build()))
    provider.add_span_processor(SimpleSpanProcessor(RedactingSpanExporter(exporter, broken)))
    tracer = provider.get_tracer("t")

    def failures() -> float:
        points = metric_points(INTERNAL_FAILURES_METRIC)
        return sum(v for a, v in points if a.get("component") == "redaction.span")

    before = failures()
    with tracer.start_as_current_span("bad", attributes={"boom": "password=hunter2"}):
        pass
    with tracer.start_as_current_span("good"):
        pass
    assert [s.name for s in exporter.get_finished_spans()] == ["good"]
    assert failures() == before + 1


def test_log_records_are_redacted(redactor, metric_points):
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(
        SimpleLogRecordProcessor(RedactingLogExporter(exporter, redactor))
    )
    logger = logging.getLogger("redaction.logs")
    logger.propagate = False
    handler = LoggingHandler(logger_provider=provider)
    logger.addHandler(handler)
    try:
        logger.warning(
            "card %s declined for jane@example.com", "4111 1111 1111 1111",
            extra={"api_key": "abc12345token", "order": 7},
        )  # fmt: skip
    finally:
        logger.removeHandler(handler)
        provider.shutdown()
    (record,) = [r.log_record for r in exporter.get_finished_logs()]
    text = f"{record.body} {dict(record.attributes or {})}"
    for secret in SECRETS:
        assert secret not in text, secret
    assert record.attributes["order"] == 7
    assert "[REDACTED:card]" in record.body


def test_json_console_logs_are_redacted_and_hash_the_user():
    formatter = JsonFormatter()
    record = logging.LogRecord(
        "shop", logging.ERROR, __file__, 1, "reset for %s with password=%s",
        ("jane@example.com", "hunter2"), None,
    )  # fmt: skip
    record.user_id = "user-42"
    record.customer = {"email": "jane@example.com"}
    line = formatter.format(record)
    for secret in SECRETS:
        assert secret not in line, secret
    fields = json.loads(line)
    assert fields["user_hash"] == runtime.current().redactor.hash("user-42")
    assert "user-42" not in line


def test_errors_counter_attributes_are_redacted(tracer, metric_points):
    """An endpoint carrying a value (a raw path) reaches the counter without the secret."""
    with pytest.raises(KeyError):
        with tracer.start_as_current_span(
            "GET", kind=SpanKind.SERVER, attributes={"http.route": "/unsubscribe/jane@example.com"}
        ):
            raise KeyError("missing")
    routes = {a.get("http.route") for a, _ in metric_points("errors")}
    assert "/unsubscribe/[REDACTED:email]" in routes
    assert not any("jane@example.com" in str(r) for r in routes)


def _planted(size: int, limit: int) -> str:
    """``size`` characters, clean but for secrets in the head, across the cut and in the tail."""
    pieces = {
        1_000: " password=hunter2 ",
        limit - 8: " 5555 5555 5555 4444 ",  # across the cut: its first digits are kept
        size // 2: " jane@example.com ",
        size - 40: " card 4111 1111 1111 1111 ",
    }
    text, position = [], 0
    for at, secret in sorted(pieces.items()):
        text += ["x" * (at - position), secret]
        position = at + len(secret)
    return "".join(text) + "y" * (size - position)


DEFAULT_MAX_LENGTH = 64 * 1024  # the documented default cut
HUGE_SECRETS = ("hunter2", "5555 5555", "jane@example.com", "4111 1111 1111 1111")
HUGE_SIZES = [DEFAULT_MAX_LENGTH + 1, 1 << 20, 16 << 20]


@pytest.mark.parametrize("size", HUGE_SIZES)
def test_huge_values_never_leave_the_process_unscanned(pipeline, size):
    """A span's name, attributes, status and event with a huge value: cut, scanned, no secret."""
    tracer, exporter = pipeline
    value = _planted(size, DEFAULT_MAX_LENGTH)
    with pytest.raises(ValueError, match="hunter2"):
        with tracer.start_as_current_span(value, attributes={"app.note": value}) as span:
            span.add_event("note", {"text": value})
            raise ValueError(value)
    (exported,) = exporter.get_finished_spans()
    texts = [exported.name, str(exported.status.description), *exported.attributes.values()]
    texts += [str(v) for event in exported.events for v in event.attributes.values()]
    for text in texts:
        assert len(text) < DEFAULT_MAX_LENGTH + 200, len(text)
        for secret in HUGE_SECRETS:
            assert secret not in text, secret
    assert exported.attributes["app.note"].endswith(" chars]")
    assert "[REDACTED:key_value]" in exported.attributes["app.note"]


def test_huge_log_bodies_are_cut_and_scanned(redactor):
    """A log body clean up to the limit is cut there, with a marker; what follows never leaves."""
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(
        SimpleLogRecordProcessor(RedactingLogExporter(exporter, redactor))
    )
    logger = logging.getLogger("redaction.huge")
    logger.propagate = False
    handler = LoggingHandler(logger_provider=provider)
    logger.addHandler(handler)
    try:
        logger.warning("%s password=hunter2 jane@example.com", "x" * (DEFAULT_MAX_LENGTH - 1))
    finally:
        logger.removeHandler(handler)
        provider.shutdown()
    (record,) = [r.log_record for r in exporter.get_finished_logs()]
    assert record.body == "x" * (DEFAULT_MAX_LENGTH - 1) + " …[cut: 33 chars]"


def test_the_standard_value_length_limit_sets_the_cut(monkeypatch):
    """With OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT set, every exported string is cut there."""
    monkeypatch.setenv("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "100")
    redactor = redaction_setup.build_redactor(Settings.load(environ={}))
    span = ReadableSpan(name="n" * 85 + " password=hunter2 " + "z" * 50, status=Status(
        StatusCode.ERROR, "e" * 300))  # fmt: skip
    redacted = redact_span(span, redactor, [])
    # The password starts before the cut and ends after it: it is replaced whole.
    assert redacted.name == "n" * 85 + " password=[REDACTED:key_value]…[cut: 51 chars]"
    assert redacted.status.description == "e" * 100 + "…[cut: 200 chars]"


SCRIPT = textwrap.dedent(
    """
    import otel_errors, sys
    try:
        otel_errors.configure(redaction_rules=sys.argv[1])
    except otel_errors.ConfigurationError as exc:
        print("ERROR", exc)
    """
)


def test_invalid_rule_in_configure_is_a_clear_start_up_error(tmp_path):
    rules = tmp_path / "rules.toml"
    rules.write_text("[[rules]]\nname = \"bad\"\nvalue = '([a-z'\n")
    script = tmp_path / "start.py"
    script.write_text(SCRIPT)
    env = {"PATH": "/usr/bin:/bin", "OTEL_ERRORS_LOCAL_DIR": str(tmp_path / "data")}
    result = subprocess.run(
        [sys.executable, str(script), str(rules)],
        capture_output=True, text=True, env=env, timeout=60, check=True,
    )  # fmt: skip
    assert result.stdout.startswith("ERROR ")
    assert "OTEL_ERRORS_REDACTION_RULES" in result.stdout
    assert "rule 'bad': invalid value regex" in result.stdout


def test_invalid_rule_under_the_launcher_logs_once_and_keeps_built_in_rules(tmp_path):
    """The application starts; secrets are still redacted by the built-in rules."""
    rules = tmp_path / "rules.toml"
    rules.write_text("[[rules]]\nname = \"bad\"\nvalue = '([a-z'\n")
    script = tmp_path / "job.py"
    script.write_text(
        "from opentelemetry import trace\n"
        "with trace.get_tracer('job').start_as_current_span('job') as span:\n"
        "    span.set_attribute('note', 'password=hunter2')\n"
    )
    data = tmp_path / "data"
    env = {
        "PATH": "/usr/bin:/bin",
        "OTEL_SERVICE_NAME": "job",
        "OTEL_ERRORS_LOCAL_DIR": str(data),
        "OTEL_ERRORS_REDACTION_RULES": str(rules),
    }
    launcher = Path(sys.executable).parent / "opentelemetry-instrument"
    result = subprocess.run(
        [str(launcher), sys.executable, str(script)],
        capture_output=True, text=True, env=env, timeout=60, check=True,
    )  # fmt: skip
    assert result.stderr.count("invalid value regex") == 1, result.stderr
    spans = (data / "spans.jsonl").read_text()
    assert "hunter2" not in spans
    assert "[REDACTED:key_value]" in spans
