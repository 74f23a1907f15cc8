"""The redaction engine applied where telemetry leaves the process: span and log exporters.

Why wrap the exporter rather than add a processor: an exporter wrapper sees every
span and log record exactly once, after every processor changed it and right before
it is serialised, in the batch thread rather than on the request path; and a span
processor cannot change a finished span anyway (the SDK's advice is to rebuild it
and hand it on, which is what happens here for the spans that need it).

Covered: span names (they carry URLs and statements), attributes, status
descriptions (the SDK writes ``f"{type}: {message}"`` there), event names and
attributes (``exception.message``/``exception.stacktrace`` included), link
attributes, resources, log bodies, attributes and event names. Values longer than
the redactor's limit are cut there (with a marker) and the kept part is scanned.
Each redaction is counted on ``redactions`` (attribute ``rule``, never the value).
A span or record that cannot be redacted is dropped, not exported in clear, and the
loss is counted on ``otel_errors.internal_failures``.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any, TypeVar

from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import Link, Status

from otel_errors._internal.helpers.fail_open import report_internal_failure
from otel_errors._internal.recording.runtime import current
from otel_errors._internal.recording.sdk_internals import (
    HashOnceResource,
    finished_fields,
    held_dict,
    rebuilt_span,
)
from otel_errors._internal.scrubbing import DROP

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from otel_errors._internal.scrubbing import Redactor

T = TypeVar("T")
A = TypeVar("A", bound="Mapping[str, Any] | None")
REDACTIONS_METRIC = "redactions"
_RESOURCES_CACHED = 64


class RedactedResources(dict[int, tuple[Resource, Resource]]):
    """Redacted resources by the identity of the original, kept alive by the entry.

    A runtime part: a provider has one resource, so this stays tiny.
    """


def count_redactions(fired: Counter[str]) -> None:
    """Adds the fired rules to the ``redactions`` counter."""
    if not fired:
        return
    counter = current().instruments.counter(
        REDACTIONS_METRIC,
        unit="{redaction}",
        description="Values redacted before export, by rule (never by value).",
    )
    for rule, count in fired.items():
        counter.add(count, {"rule": rule})


def redact_span(
    span: ReadableSpan,
    redactor: Redactor,
    fired: list[str],
    resources: RedactedResources | None = None,
) -> ReadableSpan:
    """``span`` itself when nothing changed, else a rebuilt copy; adds to ``fired``.

    Every string the exporters serialise goes through ``redactor``: the name, the
    status description, attributes, event names and attributes, link attributes and
    the resource. A value the redactor changed without a rule firing (one cut at the
    length limit) is exported changed too. Every exported span passes here, so its
    fields are read in one call and a resource redacted before is found without one
    (``resources``: the runtime's memo, which a batch looks up once).
    """
    # As the span holds them (the properties copy at each read): "unchanged" is the same
    # object back from the redactor, and an unchanged span keeps its dropped counts.
    (
        original_name,
        original_status,
        original_description,
        original_resource,
        original_attributes,
        held,
        original_events,
        original_links,
    ) = finished_fields(span)
    name = redactor.text_into(original_name, fired)
    redacted = redactor.attributes_into(held, fired)  # read, never changed: a change copies
    attributes = original_attributes if redacted is held else redacted
    events = _events(original_events, redactor, fired) if original_events else original_events
    status = original_status
    if original_description:  # after the events: ``Type: message`` reuses the message's scan
        description = _text(original_description, redactor, fired)
        if description is not original_description:
            status = Status(status.status_code, description)
    links = _links(original_links, redactor, fired) if original_links else original_links
    memo = current().part(RedactedResources) if resources is None else resources
    cached = memo.get(id(original_resource))
    resource = (
        cached[1]
        if cached is not None and cached[0] is original_resource
        else _resource(original_resource, redactor, fired, memo)
    )
    if (
        name is original_name
        and attributes is original_attributes
        and status is original_status
        and events is original_events
        and links is original_links
        and resource is original_resource
    ):
        return span
    return rebuilt_span(
        span,
        name=name,
        resource=resource,
        attributes=attributes,
        events=events,
        links=links,
        status=status,
    )


def _text(text: str, redactor: Redactor, fired: list[str]) -> str:
    return redactor.text_into(text, fired)


def _attributes(
    attributes: A, redactor: Redactor, fired: list[str], *, finished: bool = False
) -> A:
    held = held_dict(attributes, finished=finished)  # read, never changed: a change copies
    redacted = redactor.attributes_into(held, fired)
    return attributes if redacted is held else redacted  # type: ignore[return-value]  # the same mapping type, or a dict


def _resource(
    resource: Resource, redactor: Redactor, fired: list[str], memo: RedactedResources
) -> Resource:
    """``resource`` redacted once per resource object (one per provider), then reused.

    Its attributes hold command lines (``process.command_args``) that may carry secrets.
    A redacted copy hashes once, as the providers' own resource does (``sdk_internals``).
    """
    cached = memo.get(id(resource))
    if cached is not None and cached[0] is resource:
        return cached[1]
    attributes, rules = redactor.redact_attributes(resource.attributes)
    fired += rules
    redacted = (
        resource
        if attributes is resource.attributes
        else HashOnceResource(dict(attributes or {}), resource.schema_url)
    )
    if len(memo) >= _RESOURCES_CACHED:
        memo.clear()
    memo[id(resource)] = (resource, redacted)
    return redacted


def _events(events: Sequence[Event], redactor: Redactor, fired: list[str]) -> Sequence[Event]:
    changed = False
    result: list[Event] = []
    for event in events:
        name = _text(event.name, redactor, fired)
        attributes = _attributes(event.attributes, redactor, fired)
        if name is not event.name or attributes is not event.attributes:
            changed = True
            event = Event(name, attributes, event.timestamp)  # noqa: PLW2901 - a copy
        result.append(event)
    return result if changed else events


def _links(links: Sequence[Link], redactor: Redactor, fired: list[str]) -> Sequence[Link]:
    changed = False
    result: list[Link] = []
    for link in links:
        attributes = _attributes(link.attributes, redactor, fired)
        if attributes is not link.attributes:
            changed = True
            link = Link(link.context, attributes)  # noqa: PLW2901 - a copy
        result.append(link)
    return result if changed else links


def redact_batch(
    redact: Callable[[T, Redactor, list[str], RedactedResources], T],
    batch: Sequence[T],
    redactor: Redactor,
    component: str,
) -> list[T]:
    """Each item redacted; one that cannot be is dropped (counted), never exported in clear.

    The rules that fired are added to the ``redactions`` counter once per batch; the
    memo of redacted resources is looked up once per batch.
    """
    fired: list[str] = []
    safe: list[T] = []
    resources = current().part(RedactedResources)
    for item in batch:
        try:
            safe.append(redact(item, redactor, fired, resources))
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
        redactor: The engine, or where to get it when the first batch is exported
            (setup's runtime builds it on first use).
    """

    def __init__(self, exporter: SpanExporter, redactor: Redactor | Callable[[], Redactor]) -> None:
        """Wraps ``exporter``."""
        self.exporter = exporter
        self._redactor = redactor

    @property
    def redactor(self) -> Redactor:
        """The engine."""
        return _engine(self._redactor)

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
    readable: ReadableLogRecord,
    redactor: Redactor,
    fired: list[str],
    resources: RedactedResources | None = None,
) -> ReadableLogRecord:
    """``readable`` itself when nothing changed, else a copy with a new record.

    Body (text or structured), attributes, event name and resource are redacted.
    """
    record = readable.log_record
    attributes = _attributes(record.attributes, redactor, fired)
    body = record.body
    if isinstance(body, str):
        body = _text(body, redactor, fired)
    elif body is not None:
        redacted_body, rules = redactor.redact_value("body", body)
        fired += rules
        body = None if redacted_body is DROP else redacted_body
    event_name = record.event_name
    if event_name:
        event_name = _text(event_name, redactor, fired)
    memo = current().part(RedactedResources) if resources is None else resources
    resource = _resource(readable.resource, redactor, fired, memo)
    if (
        attributes is record.attributes
        and body is record.body
        and event_name is record.event_name
        and resource is readable.resource
    ):
        return readable
    copy = type(record).__new__(type(record))
    copy.__dict__.update(record.__dict__)
    copy.attributes = attributes
    copy.body = body
    copy.event_name = event_name
    return ReadableLogRecord(
        log_record=copy,
        resource=resource,
        instrumentation_scope=readable.instrumentation_scope,
        limits=readable.limits,
    )


class RedactingLogExporter(LogRecordExporter):
    """Redacts each log record, then hands the batch to ``exporter``.

    Args:
        exporter: The real exporter.
        redactor: The engine, or where to get it when the first batch is exported.
    """

    def __init__(
        self, exporter: LogRecordExporter, redactor: Redactor | Callable[[], Redactor]
    ) -> None:
        """Wraps ``exporter``."""
        self.exporter = exporter
        self._redactor = redactor

    @property
    def redactor(self) -> Redactor:
        """The engine."""
        return _engine(self._redactor)

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        """Redacts, counts and exports; a record that cannot be redacted is dropped."""
        return self.exporter.export(redact_batch(redact_log, batch, self.redactor, "redaction.log"))

    def shutdown(self) -> None:
        """Shuts the wrapped exporter down."""
        self.exporter.shutdown()  # type: ignore[no-untyped-call,unused-ignore]

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Flushes the wrapped exporter."""
        return self.exporter.force_flush(timeout_millis)


def _engine(redactor: Redactor | Callable[[], Redactor]) -> Redactor:
    return redactor() if callable(redactor) else redactor
