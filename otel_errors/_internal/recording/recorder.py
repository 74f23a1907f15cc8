"""Recording one exception: classify, describe, deduplicate, and attach to the span.

Every path that records an exception ends here: the SDK's ``record_exception``
(patched, see ``sdk_patch``), contrib instrumentations through it, and our own
``handle``/``record_error``. That single path is what makes the attributes the same
whoever recorded the error, and what lets "at most once per trace" hold.

Deduplication marks the exception object with the id of the trace it was recorded
in (exceptions cannot be weakly referenced, and a side table holding them would keep
their frames alive). An outer span that sees the same object in the same trace gets
``error.type`` but no second event.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry._logs import SeverityNumber, get_logger

from otel_errors._internal import names
from otel_errors._internal.helpers.fail_open import report_internal_failure
from otel_errors._internal.helpers.text import safe_str, sanitize, truncate
from otel_errors._internal.model import upstream
from otel_errors._internal.model.classification import Classification, Classifier, qualified_name
from otel_errors._internal.model.enrichment import Enrichers
from otel_errors._internal.recording.error_metrics import ErrorMetrics
from otel_errors._internal.recording.error_types import ErrorTypes
from otel_errors._internal.recording.fingerprint_metrics import FingerprintMetrics
from otel_errors._internal.recording.frame_locals import LocalsCapture
from otel_errors._internal.recording.local_roots import LocalRoots
from otel_errors._internal.recording.marks import MARK, mark_recorded
from otel_errors._internal.recording.outcome import Held, Outcomes
from otel_errors._internal.recording.sdk_internals import add_bounded_event
from otel_errors._internal.recording.signals import exception_signals
from otel_errors._internal.recording.stack import (
    FINGERPRINT_VERSION,
    StackFormatter,
    extend_fingerprint,
)
from otel_errors._internal.scrubbing import RedactionConfig, Redactor

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from opentelemetry.sdk.trace import Event
    from opentelemetry.util.types import AttributeValue

    from otel_errors._internal.config.settings import Settings
    from otel_errors._internal.model.catalog import ErrorCode

logger = logging.getLogger("otel_errors")

_FIXED_VALUES_KEPT = 1024
"""(entry, exception class) pairs whose fixed attribute values are remembered."""


def error_type(entry: ErrorCode, exc: BaseException) -> str:
    """The span's ``error.type``: the code, or the exception type when unclassified."""
    return qualified_name(type(exc)) if entry.code == names.UNKNOWN_CODE else entry.code


class ErrorRecorder:
    """Turns exceptions into attributes and records them.

    The runtime gives it the state it shares with the export (held outcomes, the
    ``error.type`` memory, the open requests, the redactor); alone (tests, benchmarks)
    it makes its own.

    Args:
        settings: Length limits and cache size.
        classifier: Maps exceptions to catalogue entries.
        environ: Where ``OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN`` is read.
        enrichers: Attributes from inside exceptions.
        upstream_readers: Enrichers that attach an upstream failure (also when unsampled).
        outcomes: Logged exceptions waiting for their outcome.
        error_types: The ``error.type`` given to each span.
        local_roots: The open request of each trace.
        redactor: The redactor in use (the errors counter's attributes).
        frame_locals: When to capture the failing frames' variables (``error.locals``).
        signals: ``(as span events, as log records)`` when the runtime has read them.
    """

    def __init__(
        self,
        settings: Settings,
        classifier: Classifier,
        environ: Mapping[str, str],
        enrichers: Enrichers | None = None,
        *,
        upstream_readers: Enrichers | None = None,
        outcomes: Outcomes | None = None,
        error_types: ErrorTypes | None = None,
        local_roots: LocalRoots | None = None,
        redactor: Callable[[], Redactor] | None = None,
        frame_locals: LocalsCapture | None = None,
        signals: tuple[bool, bool] | None = None,
    ) -> None:
        """Creates a recorder; reads the exception-signal switch once (unless ``signals``)."""
        self.enrichers = enrichers if enrichers is not None else Enrichers()
        self.upstream_readers = upstream_readers if upstream_readers is not None else Enrichers()
        self.settings = settings
        self.classifier = classifier
        self.outcomes = outcomes if outcomes is not None else Outcomes()
        self.error_types = error_types if error_types is not None else ErrorTypes()
        self.stack = StackFormatter(
            settings.max_stacktrace_length, settings.max_message_length, settings.stack_cache_size
        )
        self.as_span_event, self.as_log_record = (
            exception_signals(environ) if signals is None else signals
        )
        if redactor is None:
            default = Redactor(RedactionConfig.build(), enabled=settings.redaction)
            redactor = lambda: default  # noqa: E731 - a constant source
        self.metrics = ErrorMetrics(
            settings.metrics_cardinality_limit,
            local_roots if local_roots is not None else LocalRoots(),
            redactor,
        )
        self.fingerprints = FingerprintMetrics(settings.fingerprints_limit)
        self.frame_locals = (
            frame_locals
            if frame_locals is not None
            else LocalsCapture(enabled=settings.capture_locals, redactor=redactor)
        )
        self._logger = get_logger("otel_errors")
        self._fixed_values: dict[
            tuple[int, type], tuple[ErrorCode, tuple[str, str, str, str, str, bool]]
        ] = {}

    def attributes(
        self,
        exc: BaseException,
        *,
        handled: bool,
        code: str | ErrorCode | None = None,
        span: trace.Span | None = None,
        with_locals: bool = True,
    ) -> tuple[dict[str, AttributeValue], ErrorCode]:
        """The exception attributes of DESIGN.md for ``exc``, and its catalogue entry.

        Enrichers registered for the exception's library add theirs (``span`` is the
        span it is being recorded on, if any). ``with_locals=False`` leaves out
        ``error.locals``, and does not use up the fingerprint's capture: for the other
        places that describe an exception (a log line), not the exception event.
        """
        result = (
            Classification(self.classifier.resolve(code))
            if code is not None
            else self.classifier.classify(exc)
        )
        entry = result.error
        message = sanitize(truncate(safe_str(exc), self.settings.max_message_length))
        stack = self.stack.describe(exc, entry.code, message)
        exception_type, code, severity, category, kind, retryable = self._fixed(entry, type(exc))
        attributes: dict[str, AttributeValue] = {
            names.EXCEPTION_TYPE: exception_type,
            names.EXCEPTION_MESSAGE: message,
            names.EXCEPTION_STACKTRACE: stack.stacktrace,
            names.ERROR_CODE: code,
            names.ERROR_SEVERITY: severity,
            names.ERROR_CATEGORY: category,
            names.ERROR_KIND: kind,
            names.ERROR_RETRYABLE: retryable,
            names.ERROR_FINGERPRINT: stack.fingerprint,
            names.ERROR_FINGERPRINT_VERSION: FINGERPRINT_VERSION,
            names.ERROR_HANDLED: handled,
        }
        if result.group_codes:
            attributes[names.ERROR_GROUP_CODES] = list(result.group_codes)
        context = getattr(exc, "context", None)
        if isinstance(context, dict) and getattr(type(exc), names.APP_ERROR_MARKER, False):
            for key, value in context.items():
                attributes[names.ERROR_CONTEXT_PREFIX + safe_str(key)] = _attribute_value(
                    value, self.settings.max_message_length
                )
        self.enrichers.apply(exc, span, attributes)
        self.upstream_readers.apply(exc, span, attributes)
        failed_upstream = upstream.carried_by(exc)
        if failed_upstream is not None:
            # After the readers: one of them may attach it (gRPC trailing metadata).
            # Two callers failing on different upstream codes are two problems to fix.
            attributes.update(failed_upstream.attributes())
            attributes[names.ERROR_FINGERPRINT] = extend_fingerprint(
                stack.fingerprint, failed_upstream.code
            )
        if with_locals and self.frame_locals.enabled:
            self._add_locals(exc, attributes)
        return attributes, entry

    def _add_locals(self, exc: BaseException, attributes: dict[str, AttributeValue]) -> None:
        """``error.locals`` for a fingerprint's first occurrences (see ``frame_locals``)."""
        try:
            captured = self.frame_locals.capture(
                exc, str(attributes[names.ERROR_FINGERPRINT]), self.stack
            )
        except Exception as failure:  # the event goes out without them
            report_internal_failure("recording.locals", failure)
            return
        if captured is not None:
            attributes[names.ERROR_LOCALS] = captured

    def _fixed(self, entry: ErrorCode, cls: type) -> tuple[str, str, str, str, str, bool]:
        """The attribute values a catalogue entry and an exception class fix, read once."""
        key = (id(entry), cls)
        found = self._fixed_values.get(key)
        if found is not None and found[0] is entry:
            return found[1]
        values = (
            qualified_name(cls),
            entry.code,
            entry.severity.value,
            entry.category.value,
            entry.kind.value,
            entry.is_retryable,
        )
        if len(self._fixed_values) >= _FIXED_VALUES_KEPT:
            self._fixed_values.clear()
        self._fixed_values[key] = (entry, values)
        return values

    def record(
        self,
        span: trace.Span,
        exc: BaseException,
        *,
        handled: bool,
        code: str | ErrorCode | None = None,
        attributes: Mapping[str, Any] | None = None,
        timestamp: int | None = None,
        fatal: bool = False,
        logged: bool = False,
    ) -> ErrorCode:
        """Records ``exc`` on ``span`` unless this trace already holds it.

        Args:
            span: Where to record (a non-recording span gets nothing).
            exc: The exception.
            handled: Whether the application handled it.
            code: Forces a catalogue code instead of classifying.
            attributes: Extra attributes; they win over computed ones, as in the SDK.
            timestamp: Event time in ns since the epoch (now when omitted).
            fatal: The error ends the process (log records get severity FATAL).
            logged: The application logged it: handled unless it escapes before the
                span ends (see ``outcome``).

        Returns:
            The catalogue entry the exception was classified as.
        """
        trace_id = _trace_id(span)
        if getattr(exc, MARK, None) == trace_id:
            return self._seen_again(span, exc, trace_id, handled=handled, code=code)
        if not span.is_recording():
            return self._count_unsampled(span, exc, trace_id, handled=handled, code=code)
        event_attributes, entry = self.attributes(exc, handled=handled, code=code, span=span)
        if not handled:
            self._set_error_type(span, error_type(entry, exc))
        if attributes:
            event_attributes.update(attributes)
        exception_type = str(event_attributes[names.EXCEPTION_TYPE])

        def finish(final_handled: bool) -> None:
            event_attributes[names.ERROR_HANDLED] = final_handled
            if self.as_log_record:
                self._emit_log(
                    span, event_attributes, handled=final_handled, fatal=fatal, timestamp=timestamp
                )
            self.metrics.count(
                span, entry, exception_type, handled=final_handled, origin=_origin(event_attributes)
            )
            if not final_handled:
                self.fingerprints.count(
                    span,
                    str(event_attributes[names.ERROR_FINGERPRINT]),
                    entry.code,
                    entry.severity.value,
                )

        event = None
        if self.as_span_event:
            add_event(span, dict(event_attributes), timestamp)
            event = _last_event(span) if logged else None
        mark_recorded(exc, trace_id)
        if logged and self.outcomes.processor_installed:
            self.outcomes.hold(exc, Held(span, trace_id, event, finish))
        else:
            finish(handled)
        return entry

    def _count_unsampled(
        self,
        span: trace.Span,
        exc: BaseException,
        trace_id: int,
        *,
        handled: bool,
        code: str | ErrorCode | None,
    ) -> ErrorCode:
        """A span that is not sampled gets no event, but the error still counts, once.

        Metrics are not sampled: with head sampling at 10%, ``errors_total`` must still
        count every error, or every rate and alert built on it reads a tenth.
        """
        entry = self._entry(exc, code)
        mark_recorded(exc, trace_id)
        self.upstream_readers.apply(exc, None, {})  # no event, but the origin counts
        failed_upstream = upstream.carried_by(exc)
        origin = failed_upstream.origin()[0] if failed_upstream is not None else None
        self.metrics.count(span, entry, qualified_name(type(exc)), handled=handled, origin=origin)
        if not handled:
            fingerprint = self.stack.fingerprint(exc, entry.code)
            if failed_upstream is not None:
                fingerprint = extend_fingerprint(fingerprint, failed_upstream.code)
            self.fingerprints.count(span, fingerprint, entry.code, entry.severity.value)
        return entry

    def _seen_again(
        self,
        span: trace.Span,
        exc: BaseException,
        trace_id: int,
        *,
        handled: bool,
        code: str | ErrorCode | None,
    ) -> ErrorCode:
        """No second event; an escape still marks the span, and a held record, failed."""
        entry = self._entry(exc, code)
        if not handled:
            held = self.outcomes.escaped(exc, trace_id)
            for target in (span, held.span if held else None):
                if target is not None and target.is_recording():
                    self._set_error_type(target, error_type(entry, exc))
        return entry

    def _set_error_type(self, span: trace.Span, value: str) -> None:
        span.set_attribute(names.ERROR_TYPE, value)
        self.error_types.remember(span.get_span_context().span_id, value)

    def classify(self, exc: BaseException) -> ErrorCode:
        """The catalogue entry of ``exc``."""
        return self.classifier.classify(exc).error

    @staticmethod
    def recorded_trace_id(exc: BaseException) -> int | None:
        """The trace ``exc`` was last recorded in, if any (a server logging it later)."""
        trace_id = getattr(exc, MARK, None)
        return trace_id if isinstance(trace_id, int) and trace_id else None

    @staticmethod
    def was_recorded(exc: BaseException) -> bool:
        """Whether ``exc`` was recorded in any trace already."""
        return getattr(exc, MARK, None) is not None

    def _entry(self, exc: BaseException, code: str | ErrorCode | None) -> ErrorCode:
        if code is not None:
            return self.classifier.resolve(code)
        return self.classifier.classify(exc).error

    def _emit_log(
        self,
        span: trace.Span,
        attributes: dict[str, AttributeValue],
        *,
        handled: bool,
        fatal: bool,
        timestamp: int | None,
    ) -> None:
        if fatal:
            severity, text = SeverityNumber.FATAL, "FATAL"
        elif handled:
            severity, text = SeverityNumber.WARN, "WARN"
        else:
            severity, text = SeverityNumber.ERROR, "ERROR"
        self._logger.emit(
            timestamp=timestamp,
            context=trace.set_span_in_context(span),
            severity_number=severity,
            severity_text=text,
            body=attributes.get(names.EXCEPTION_MESSAGE),
            attributes=attributes,
            event_name=names.EXCEPTION_EVENT,
        )


def _origin(attributes: Mapping[str, AttributeValue]) -> str | None:
    """The origin service of a failure across services, from its event attributes."""
    origin = attributes.get(names.ERROR_ORIGIN_SERVICE)
    return origin if isinstance(origin, str) else None


def add_event(span: trace.Span, attributes: dict[str, Any], timestamp: int | None) -> None:
    """Adds the exception event; the SDK does not check again what we bounded already."""
    if not add_bounded_event(span, names.EXCEPTION_EVENT, attributes, timestamp):
        span.add_event(names.EXCEPTION_EVENT, attributes, timestamp)


def _last_event(span: trace.Span) -> Event | None:
    """The event just added to an SDK span (None for other span implementations)."""
    events = getattr(span, "events", None)
    return events[-1] if events else None


def _trace_id(span: trace.Span) -> int:
    return span.get_span_context().trace_id


def _attribute_value(value: object, limit: int) -> AttributeValue:
    if isinstance(value, (bool, int, float)):
        return value
    return sanitize(truncate(safe_str(value), limit))
