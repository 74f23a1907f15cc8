"""Our one span processor: it wraps each exporting processor and does the span-level work.

Why a wrapping processor: ``on_end`` receives a read-only span, and the SDK's way to
change what is exported is to rebuild the span and hand the copy downstream. Our
processor wraps each exporting processor (``BatchSpanProcessor(exporter)``) and
rebuilds only the spans that need it; every other span passes through untouched.
Why one processor for several jobs: each processor costs the SDK three calls per
span; the success path must stay as cheap as the vanilla SDK's.

It tells ``local_roots`` when server and consumer spans start and end (the
endpoint of the errors counter), and ``outcome`` when any span ends: logged
exceptions held on it are then counted, and those that escaped meanwhile get
``error.handled=false`` in the rebuilt span. It counts a span that the wrapped
processor's full queue drops (see ``delivery``).

It restores ``error.type``: instrumentations set it from the HTTP status (``"500"``)
or the exception class after we set it to the error code, and DESIGN.md promises the
code. The recorder remembers which spans it marked (the runtime's ``ErrorTypes``,
bounded) and the rebuild puts the code back.

It makes a failed span's status description valid UTF-8: the API writes
``f"{type}: {message}"`` there when an exception escapes a span, and a message with a
lone surrogate (bytes decoded with ``surrogateescape``) made the OTLP encoder reject
the whole batch it was in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.trace import SpanKind, Status

from otel_errors._internal.export.delivery import QUEUE_FULL
from otel_errors._internal.helpers.fail_open import report_internal_failure
from otel_errors._internal.helpers.text import sanitize
from otel_errors._internal.names import ERROR_TYPE
from otel_errors._internal.recording.outcome import Outcomes
from otel_errors._internal.recording.runtime import current
from otel_errors._internal.recording.sdk_internals import ended_state, span_parts, starts_nothing

_SERVER, _CONSUMER = SpanKind.SERVER, SpanKind.CONSUMER
"""``local_roots.ENTRY_KINDS``, compared by identity here: an enum member hashes in Python."""

if TYPE_CHECKING:
    from collections.abc import Sequence

    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import Event, Span
    from opentelemetry.util.types import Attributes

    from otel_errors._internal.export.delivery import Tally


class ExportSpanProcessor(SpanProcessor):
    """Wraps an exporting span processor; rebuilds spans whose error.type was overwritten.

    Args:
        downstream: The processor that exports (usually a ``BatchSpanProcessor``).
        tally: Where a span dropped by ``downstream``'s full queue is counted.
    """

    def __init__(self, downstream: SpanProcessor, tally: Tally | None = None) -> None:
        """Wraps ``downstream``; logged exceptions can now wait for their outcome."""
        self.downstream = downstream
        self.tally = tally
        if tally is not None:
            tally.watch(downstream)
        self._downstream_starts = not starts_nothing(downstream)
        Outcomes.processor_installed = True

    @property
    def span_exporter(self) -> object:
        """The exporter of the wrapped processor (for introspection and tests)."""
        return getattr(self.downstream, "span_exporter", None)

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Notes entry spans, then passes the span on (unless its ``on_start`` is a no-op)."""
        kind = span.kind
        if kind is _SERVER or kind is _CONSUMER:  # an entry span (ENTRY_KINDS)
            current().local_roots.entered(span)
        if self._downstream_starts:
            self.downstream.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        """Finishes held records, restores our error.type, then passes the span on.

        Every span ends here, so the success path makes as few Python calls as it can
        (see ``sdk_internals.ended_state``); a rebuilt span keeps the context.
        """
        kind, context, description, sampled = ended_state(span)
        if kind is _SERVER or kind is _CONSUMER:  # ENTRY_KINDS, as in on_start
            current().local_roots.left(span)
        try:
            runtime = current()
            outcomes, error_types = runtime.outcomes, runtime.error_types
            if (
                outcomes.held
                or outcomes.corrected
                or (error_types and context is not None and context.span_id in error_types)
            ):
                span = _corrected(span)
            elif description:  # a successful span has none
                span = _valid_description(span)
        except Exception as failure:
            report_internal_failure("span_export.on_end", failure)
        tally = self.tally
        if tally is not None and sampled:
            tally.hand()
            queue = tally.queue  # Tally.queue_full, without a call per span
            if queue is not None and len(queue) >= queue.maxlen:  # type: ignore[operator]
                tally.lose(1, QUEUE_FULL)
        self.downstream.on_end(span)

    def shutdown(self) -> None:
        """Shuts the wrapped processor down."""
        self.downstream.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Flushes the wrapped processor."""
        return self.downstream.force_flush(timeout_millis)


def _valid_description(span: ReadableSpan) -> ReadableSpan:
    """``span`` with a status description that is valid UTF-8."""
    description = span.status.description
    if description and not description.isascii() and sanitize(description) != description:
        return rebuilt(span, status=Status(span.status.status_code, sanitize(description)))
    return span


def _corrected(span: ReadableSpan) -> ReadableSpan:
    """``span`` with the error.type we set, the outcome of its held records, valid UTF-8."""
    span = _valid_description(span)
    runtime = current()
    outcomes, error_types = runtime.outcomes, runtime.error_types
    events = outcomes.span_ended(span)
    context = span.context
    wanted = error_types.get(context.span_id) if error_types and context else None
    attributes = None
    if wanted is not None and (span.attributes or {}).get(ERROR_TYPE) != wanted:
        attributes = {**(span.attributes or {}), ERROR_TYPE: wanted}
    if attributes is None and events is None:
        return span
    return rebuilt(span, attributes=attributes, events=events)


def rebuilt(
    span: ReadableSpan,
    *,
    attributes: Attributes | None = None,
    events: Sequence[Event] | None = None,
    status: Status | None = None,
) -> ReadableSpan:
    """A copy of ``span`` with other attributes, events or status (the SDK's way to change it)."""
    own_attributes, own_events, links = span_parts(span)  # as held: dropped counts kept
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=own_attributes if attributes is None else attributes,
        events=own_events if events is None else events,
        links=links,
        kind=span.kind,
        status=span.status if status is None else status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )
