"""Logged exceptions wait for their outcome before they are counted.

An application that logs an exception has seen it, but may still let it escape
(``except Exception: log.exception(...); raise``), and a framework may log an error
before it answers 500. Whether it was handled is known only later. So a logged
exception is *held*: its event goes on the span at once, marked handled, but it is
counted (and, with ``OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN=logs``, emitted as a log
record) only when the span that holds it ends. If the same exception object escapes
a span of the same trace before then, the held record becomes unhandled: the span
that holds it gets ``error.type``, its event is rebuilt at export with
``error.handled=false``, and it is counted so. The event and the ``errors`` counter
always agree, whichever observer saw the exception first.

Holding needs the exporting span processor (``span_export``), which finishes held
records when their span ends (:attr:`Outcomes.processor_installed`); without it (an
SDK provider built by someone else) logged exceptions are recorded at once, as handled.
The table is bounded: past :data:`MAX_HELD` spans, the oldest held records are
finished as they are.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from opentelemetry.sdk.trace import Event

from otel_errors._internal.helpers import locks
from otel_errors._internal.names import ERROR_HANDLED

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from opentelemetry import trace
    from opentelemetry.sdk.trace import ReadableSpan

MAX_HELD = 4096
"""Spans with held records, and spans with corrected events, remembered at most."""
_ATTRIBUTE = "_otel_errors_held"


@dataclass
class Held:
    """One logged exception waiting for its outcome."""

    span: trace.Span
    """Where its event is."""
    trace_id: int
    event: Event | None
    """The span event, to be replaced at export if the outcome is unhandled."""
    finish: Callable[[bool], None]
    """Counts (and emits) it with the final ``handled``."""
    unhandled: bool = False
    done: bool = field(default=False, repr=False)


class Outcomes:
    """Held records by span id, and the events corrected when their span ended."""

    processor_installed: ClassVar[bool] = False
    """Whether one of our exporting span processors exists, to finish held records when
    their span ends (set by it: a fact about the process's providers, not about a run)."""

    def __init__(self) -> None:
        """An empty table; holding starts once an exporting processor announces itself."""
        self.held: dict[int, list[Held]] = {}
        """Held records by the id of the span that holds them."""
        self.corrected: dict[int, dict[int, Event]] = {}
        """Events found unhandled, by span id and event identity, for every exporter."""
        self._lock = locks.lock()

    def after_fork(self) -> None:
        """In a forked child: the parent's held records are the parent's to finish."""
        self.held = {}
        self.corrected = {}

    def hold(self, exc: BaseException, held: Held) -> None:
        """Holds ``held`` until its span ends; ``exc`` remembers it, to escape later."""
        span_id = held.span.get_span_context().span_id
        with contextlib.suppress(Exception):  # an object refusing attributes cannot escape later
            setattr(exc, _ATTRIBUTE, held)
        with self._lock:
            self.held.setdefault(span_id, []).append(held)
            evicted = self.held.pop(next(iter(self.held))) if len(self.held) > MAX_HELD else []
        for old in evicted:
            _finish(old)

    def escaped(self, exc: BaseException, trace_id: int) -> Held | None:
        """``exc`` escaped a span of ``trace_id``: its held record, if any, is unhandled."""
        held = getattr(exc, _ATTRIBUTE, None)
        if isinstance(held, Held) and not held.done and held.trace_id == trace_id:
            held.unhandled = True
            return held
        return None

    def span_ended(self, span: ReadableSpan) -> Sequence[Event] | None:
        """Finishes the records ``span`` held; returns its events if some were corrected.

        Every exporting processor calls this for the same span: the first one finishes
        the records, each one gets the corrected events.
        """
        context = span.context
        if context is None:
            return None
        span_id = context.span_id
        if self.held:
            with self._lock:
                held = self.held.pop(span_id, ())
            corrections = {id(h.event): h.event for h in held if _finish(h) and h.event}
            if corrections:
                with self._lock:
                    self.corrected[span_id] = corrections
                    if len(self.corrected) > MAX_HELD:
                        self.corrected.pop(next(iter(self.corrected)))
        corrected = self.corrected.get(span_id) if self.corrected else None
        if not corrected:
            return None
        return tuple(
            Event(e.name, {**(e.attributes or {}), ERROR_HANDLED: False}, e.timestamp)
            if corrected.get(id(e)) is e
            else e
            for e in span.events
        )


def _finish(held: Held) -> bool:
    """Finishes ``held`` once; returns whether its outcome is unhandled."""
    if held.done:
        return False
    held.done = True
    held.finish(not held.unhandled)
    return held.unhandled
