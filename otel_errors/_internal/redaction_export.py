"""The redaction engine applied where telemetry leaves the process: span and log exporters.

Why wrap the exporter rather than add a processor: an exporter wrapper sees every
span and log record exactly once, after every processor changed it and right before
it is serialised, in the batch thread rather than on the request path; and a span
processor cannot change a finished span anyway (the SDK's advice is to rebuild it
and hand it on, which is what happens here for the spans that need it).

Covered: span names (they carry URLs and statements), attributes, status
descriptions (the SDK writes ``f"{type}: {message}"`` there), event attributes
(``exception.message``/``exception.stacktrace`` included), link attributes, log
bodies and attributes. Each redaction is counted on ``redactions`` (attribute
``rule``, never the value). A span or record that cannot be redacted is dropped,
not exported in clear, and the loss is counted on ``otel_errors.internal_failures``.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any, TypeVar

from opentelemetry import metrics
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import Link, Status

from otel_errors._internal.fail_open import report_internal_failure
from otel_errors._internal.names import METER_NAME
from otel_errors._internal.scrubbing import DROP

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from opentelemetry.metrics import Counter as MetricCounter

    from otel_errors._internal.scrubbing import Redactor

T = TypeVar("T")
REDACTIONS_METRIC = "redactions"
_counter: MetricCounter | None = None


def count_redactions(fired: Counter[str]) -> None:
    """Adds the fired rules to the ``redactions`` counter."""
    global _counter  # noqa: PLW0603 - one process-wide instrument
    if not fired:
        return
    if _counter is None:
        _counter = metrics.get_meter(METER_NAME).create_counter(
            REDACTIONS_METRIC,
            unit="{redaction}",
            description="Values redacted before export, by rule (never by value).",
        )
    for rule, count in fired.items():
        _counter.add(count, {"rule": rule})


def redact_span(span: ReadableSpan, redactor: Redactor, fired: list[str]) -> ReadableSpan:
    """``span`` itself when nothing needed redaction, else a rebuilt copy; adds to ``fired``."""
    name, name_fired = redactor.redact_text(span.name)
    attributes, attribute_fired = redactor.redact_attributes(span.attributes)
    status = span.status
    status_fired: tuple[str, ...] = ()
    if status.description:
        description, status_fired = redactor.redact_text(status.description)
        if status_fired:
            status = Status(status.status_code, description)
    events, events_changed = _events(span.events, redactor, fired) if span.events else ((), False)
    links, links_changed = _links(span.links, redactor, fired) if span.links else ((), False)
    fired += name_fired
    fired += attribute_fired
    fired += status_fired
    if not (name_fired or attribute_fired or status_fired or events_changed or links_changed):
        return span
    return ReadableSpan(
        name=name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=attributes,
        events=events,
        links=links,
        kind=span.kind,
        status=status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def _events(
    events: Sequence[Event], redactor: Redactor, fired: list[str]
) -> tuple[Sequence[Event], bool]:
    changed = False
    result: list[Event] = []
    for event in events:
        attributes, event_fired = redactor.redact_attributes(event.attributes)
        if event_fired:
            changed = True
            fired += event_fired
            event = Event(event.name, attributes, event.timestamp)  # noqa: PLW2901 - a copy
        result.append(event)
    return (result if changed else events), changed


def _links(
    links: Sequence[Link], redactor: Redactor, fired: list[str]
) -> tuple[Sequence[Link], bool]:
    changed = False
    result: list[Link] = []
    for link in links:
        attributes, link_fired = redactor.redact_attributes(link.attributes)
        if link_fired:
            changed = True
            fired += link_fired
            link = Link(link.context, attributes)  # noqa: PLW2901 - a copy
        result.append(link)
    return (result if changed else links), changed


def redact_batch(
    redact: Callable[[T, Redactor, list[str]], T],
    batch: Sequence[T],
    redactor: Redactor,
    component: str,
) -> list[T]:
    """Each item redacted; one that cannot be is dropped (counted), never exported in clear.

    The rules that fired are added to the ``redactions`` counter once per batch.
    """
    fired: list[str] = []
    safe: list[T] = []
    for item in batch:
        try:
            safe.append(redact(item, redactor, fired))
        except Exception as failure:  # noqa: PERF203 - each item fails alone
            report_internal_failure(component, failure)
    try:
        count_redactions(Counter(fired))
    except Exception as failure:
        report_internal_failure("redaction.counter", failure)
    return safe


class RedactingSpanExporter(SpanExporter):
    """Redacts each span, then hands the batch to ``exporter``.

    Args:
        exporter: The real exporter (OTLP, local files, ...).
        redactor: The engine.
    """

    def __init__(self, exporter: SpanExporter, redactor: Redactor) -> None:
        """Wraps ``exporter``."""
        self.exporter = exporter
        self.redactor = redactor

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Redacts, counts and exports; a span that cannot be redacted is dropped."""
        return self.exporter.export(
            redact_batch(redact_span, spans, self.redactor, "redaction.span")
        )

    def shutdown(self) -> None:
        """Shuts the wrapped exporter down."""
        self.exporter.shutdown()  # type: ignore[no-untyped-call,unused-ignore]

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Flushes the wrapped exporter."""
        return self.exporter.force_flush(timeout_millis)

    def __getattr__(self, name: str) -> Any:
        """Everything else (introspection of the real exporter) goes to the wrapped one."""
        return getattr(self.exporter, name)


def redact_log(
    readable: ReadableLogRecord, redactor: Redactor, fired: list[str]
) -> ReadableLogRecord:
    """``readable`` itself when nothing needed redaction, else a copy with a new record."""
    record = readable.log_record
    attributes, attribute_fired = redactor.redact_attributes(record.attributes)
    body = record.body
    body_fired: tuple[str, ...] = ()
    if isinstance(body, str):
        body, body_fired = redactor.redact_text(body)
    elif body is not None:
        redacted_body, body_fired = redactor.redact_value("body", body)
        body = None if redacted_body is DROP else redacted_body
    fired += attribute_fired
    fired += body_fired
    if not (attribute_fired or body_fired):
        return readable
    copy = type(record).__new__(type(record))
    copy.__dict__.update(record.__dict__)
    copy.attributes = attributes
    copy.body = body
    return ReadableLogRecord(
        log_record=copy,
        resource=readable.resource,
        instrumentation_scope=readable.instrumentation_scope,
        limits=readable.limits,
    )


class RedactingLogExporter(LogRecordExporter):
    """Redacts each log record, then hands the batch to ``exporter``."""

    def __init__(self, exporter: LogRecordExporter, redactor: Redactor) -> None:
        """Wraps ``exporter``."""
        self.exporter = exporter
        self.redactor = redactor

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        """Redacts, counts and exports; a record that cannot be redacted is dropped."""
        return self.exporter.export(redact_batch(redact_log, batch, self.redactor, "redaction.log"))

    def shutdown(self) -> None:
        """Shuts the wrapped exporter down."""
        self.exporter.shutdown()  # type: ignore[no-untyped-call,unused-ignore]

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Flushes the wrapped exporter."""
        return self.exporter.force_flush(timeout_millis)
