"""The structured log record of DESIGN.md, computed once per ``logging.LogRecord``.

Fields: ``timestamp`` (UTC RFC 3339), ``service_name``, ``environment``,
``log_level``, ``error_code``, ``message``, ``stack_trace``, ``trace_id``,
``span_id``, ``request_id``, ``user_hash``, ``component`` (the logger name) and
``context`` (the record's ``extra`` keys). Both the JSON-lines formatter and the
OpenTelemetry log handler use this, so the console and Loki see the same fields.

Level policy from the catalogue: a record logged at ERROR for an exception whose
code is transient is reported at WARNING (a retryable blip should not page through
log-based alerts), a permanent one stays at ERROR. Records at other levels keep
theirs, and ``extra={"otel_errors_keep_level": True}`` opts a record out.

Message, stack trace and context pass through the redaction engine, and a user id
given in ``extra`` (``user_id``, ``enduser_id``) appears only as ``user_hash``, its
keyed hash. Exceptions are described by the same recorder as span events (code, stack trace
cached per failure location, truncation), never raising: a ``%`` formatting error
in the application's message gives the unformatted message and the arguments'
types, not an exception from inside logging.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.trace import format_span_id, format_trace_id

from otel_errors._internal.helpers.text import safe_str, sanitize, truncate
from otel_errors._internal.model.catalog import Category
from otel_errors._internal.recording.request_id import current_request_id
from otel_errors._internal.recording.runtime import current, get_recorder

if TYPE_CHECKING:
    from otel_errors._internal.model.catalog import ErrorCode

KEEP_LEVEL = "otel_errors_keep_level"
_USER_KEYS = ("user_id", "enduser_id", "enduser.id", "user.id")
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
    KEEP_LEVEL,
    "error_code",
    *_USER_KEYS,
}


@dataclass(frozen=True)
class StructuredRecord:
    """What a log record says, in the DESIGN.md fields."""

    fields: dict[str, Any]
    """The JSON-lines object."""
    level: int
    """The effective ``logging`` level after the catalogue's level policy."""
    exception: BaseException | None
    """The exception attached to the record, if any."""


def structure(record: logging.LogRecord, resource: dict[str, Any]) -> StructuredRecord:
    """The structured form of ``record``; ``resource`` gives service name and environment."""
    recorder = get_recorder()
    exception = _exception(record)
    entry: ErrorCode | None = None
    stack_trace = None
    if exception is not None:
        attributes, entry = recorder.attributes(exception, handled=True, with_locals=False)
        stack_trace = attributes["exception.stacktrace"]
    error_code = _explicit_code(record) or (entry.code if entry else None)
    level = _effective_level(record, entry)
    span_context = trace.get_current_span().get_span_context()
    trace_id = format_trace_id(span_context.trace_id) if span_context.is_valid else None
    if trace_id is None and exception is not None:
        # A server logs an escaped exception after the request's span ended (uvicorn's
        # "Exception in ASGI application"): the trace it was recorded in still correlates.
        recorded = recorder.recorded_trace_id(exception)
        trace_id = format_trace_id(recorded) if recorded is not None else None
    fields: dict[str, Any] = {
        "timestamp": _timestamp(record.created),
        "service_name": resource.get("service.name"),
        "environment": resource.get("deployment.environment.name")
        or resource.get("deployment.environment"),
        "log_level": logging.getLevelName(level),
        "error_code": error_code,
        "message": message_of(record, recorder.settings.max_message_length),
        "stack_trace": stack_trace,
        "trace_id": trace_id,
        "span_id": format_span_id(span_context.span_id) if span_context.is_valid else None,
        "request_id": current_request_id.get(),
        "user_hash": None,
        "component": record.name,
        "context": _context(record, recorder.settings.max_message_length),
    }
    _redact(fields, record)
    return StructuredRecord(fields, level, exception)


def _redact(fields: dict[str, Any], record: logging.LogRecord) -> None:
    """Secrets out of message, stack trace and context; a user id only as its keyed hash."""
    redactor = current().redactor
    for key in ("message", "stack_trace"):
        if isinstance(fields[key], str):
            fields[key] = redactor.redact_text(fields[key])[0]
    context, _ = redactor.redact_attributes(fields["context"])
    fields["context"] = dict(context or {})
    user_id = next((record.__dict__[k] for k in _USER_KEYS if record.__dict__.get(k)), None)
    if user_id is not None:
        fields["user_hash"] = redactor.hash(user_id)


def message_of(record: logging.LogRecord, limit: int) -> str:
    """``record.getMessage()``, or the template and argument types when formatting fails."""
    try:
        text = record.getMessage()
    except Exception:
        kinds = ", ".join(type(a).__name__ for a in _args(record))
        text = f"{safe_str(record.msg)} [unformattable arguments: {kinds}]"
    return sanitize(truncate(text, limit))


def _args(record: logging.LogRecord) -> tuple[object, ...]:
    args = record.args
    if isinstance(args, tuple):
        return args
    return () if args is None else (args,)


def _exception(record: logging.LogRecord) -> BaseException | None:
    info = record.exc_info
    if isinstance(info, tuple) and len(info) == 3 and isinstance(info[1], BaseException):  # noqa: PLR2004
        return info[1]
    return None


def _explicit_code(record: logging.LogRecord) -> str | None:
    code = record.__dict__.get("error_code")
    return code if isinstance(code, str) else None


def _effective_level(record: logging.LogRecord, entry: ErrorCode | None) -> int:
    if entry is None or record.levelno != logging.ERROR or record.__dict__.get(KEEP_LEVEL):
        return record.levelno
    return logging.WARNING if entry.category is Category.TRANSIENT else logging.ERROR


def _timestamp(created: float) -> str:
    stamp = datetime.fromtimestamp(created, tz=timezone.utc)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _context(record: logging.LogRecord, limit: int) -> dict[str, Any]:
    context: dict[str, Any] = {}
    for key, value in record.__dict__.items():
        if key in _STANDARD or key.startswith(("_", "otel")):
            continue
        if isinstance(value, (bool, int, float)) or value is None:
            context[key] = value
        else:
            context[key] = sanitize(truncate(safe_str(value), limit))
    return context
