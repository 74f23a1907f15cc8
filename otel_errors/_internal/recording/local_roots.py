"""The request an error happened in: the open server or consumer span of its trace.

An error recorded on an inner span (a database call, a ``handle()`` block) is
counted against the endpoint of the request it happened in: the ``http.route`` of
the server span (or the destination of the consumer span) of the same trace in
this process. The SDK keeps only the parent's ``SpanContext`` on a span, not the
parent object, so the exporting processor tells this module when such an entry
span starts and ends; inner spans cost nothing. The map is the runtime's, and bounded
(entry spans that never end are evicted oldest first).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from opentelemetry.trace import SpanKind

from otel_errors._internal.helpers import locks

if TYPE_CHECKING:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import ReadableSpan

ENTRY_KINDS = frozenset({SpanKind.SERVER, SpanKind.CONSUMER})
_MAX_OPEN = 10_000


class LocalRoots:
    """Open entry spans by trace id (the runtime's; see the module docstring)."""

    def __init__(self) -> None:
        """An empty map."""
        self._open: dict[int, ReadableSpan] = {}
        self._lock = locks.lock()

    def entered(self, span: ReadableSpan) -> None:
        """Notes an entry span (call for every started span; others are ignored)."""
        if span.kind in ENTRY_KINDS:
            with self._lock:
                if len(self._open) >= _MAX_OPEN:
                    self._open.pop(next(iter(self._open)))
                self._open[span.context.trace_id] = span

    def left(self, span: ReadableSpan) -> None:
        """Forgets an entry span that ended."""
        if span.kind in ENTRY_KINDS:
            with self._lock:
                current = self._open.get(span.context.trace_id)
                if current is not None and current.context.span_id == span.context.span_id:
                    del self._open[span.context.trace_id]

    def local_root(self, span: trace.Span) -> trace.Span | ReadableSpan:
        """The open entry span of ``span``'s trace, or ``span`` itself."""
        return self._open.get(span.get_span_context().trace_id, span)

    def after_fork(self) -> None:
        """In a forked child: the parent's requests are not the child's."""
        self._open = {}
