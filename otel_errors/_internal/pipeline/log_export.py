"""Our log record processor: exception log records emitted by others get our attributes.

Exceptions also travel as log records that otel_errors did not write: FastAPI's
built-in telemetry emits ``http.server.request.exception`` records, the SDK's
logging handler and contrib's logging instrumentation attach ``exc_info``. The
API's ``LogRecord`` carries the exception object (SDK 1.45+), and a
``LogRecordProcessor`` may edit records in place before the exporting processors
see them; so such records get the same ``error.*`` and ``exception.*`` attributes
as span events (handled when logged below ERROR). They are not counted on the
``errors`` counter: the exception was counted where it was recorded, and a log
line about it is not a second failure.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LogRecordProcessor

from otel_errors._internal import names
from otel_errors._internal.helpers.fail_open import report_internal_failure
from otel_errors._internal.recording.runtime import get_recorder

if TYPE_CHECKING:
    from opentelemetry.sdk._logs import ReadWriteLogRecord


class ErrorsLogRecordProcessor(LogRecordProcessor):
    """Adds catalogue attributes to log records that carry an exception object."""

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        """Edits ``log_record`` in place; never raises."""
        record = log_record.log_record
        exception = getattr(record, "exception", None)
        if not isinstance(exception, BaseException):
            return
        attributes = record.attributes
        if attributes is not None and names.ERROR_CODE in attributes:
            return
        try:
            severity = record.severity_number
            handled = severity is not None and severity.value < SeverityNumber.ERROR.value
            ours, _ = get_recorder().attributes(exception, handled=handled, with_locals=False)
            merged = dict(attributes or {})
            merged.update(ours)
            record.attributes = merged
        except Exception as failure:
            report_internal_failure("log_export.exception", failure)

    def shutdown(self) -> None:
        """Nothing to release."""

    def force_flush(self, timeout_millis: int = 30000) -> bool:  # noqa: ARG002 - SDK signature
        """Nothing is buffered."""
        return True
