"""RFC 9457 problem details built from the catalogue, shared by every web framework.

The response says what the catalogue says in public (title, message, HTTP status,
code) and how to find the failure (trace id, request id), never the internal
message or a stack trace unless ``OTEL_ERRORS_DEBUG`` is on. ``type`` is
``<OTEL_ERRORS_PROBLEM_TYPE_BASE><code>`` when a base is configured; otherwise
``about:blank`` with the HTTP reason phrase as title, as the RFC asks, and the
catalogue title in ``detail`` when there is no public message.

Recording policy for a failure answered here: a response of 500 or more is a failed
request (``error.handled=false``, span status ERROR); below 500 the service behaved
as designed and the error is recorded as handled.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.trace import format_trace_id

from otel_errors._internal.active import get_recorder
from otel_errors._internal.handling import own_span_if_none, record_error
from otel_errors._internal.request_id import current_request_id
from otel_errors._internal.rules import web as rules_web
from otel_errors._internal.text import safe_str, truncate

if TYPE_CHECKING:
    from otel_errors._internal.catalog import ErrorCode

CONTENT_TYPE = "application/problem+json"
SERVER_ERROR = rules_web.SERVER_ERROR


@dataclass(frozen=True)
class Problem:
    """A problem response: status, JSON body and headers."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)

    def json_bytes(self) -> bytes:
        """The body encoded as UTF-8 JSON."""
        return json.dumps(self.body, ensure_ascii=False, default=str).encode("utf-8")


def build(
    entry: ErrorCode,
    *,
    instance: str,
    status: int | None = None,
    errors: list[dict[str, Any]] | None = None,
    exc: BaseException | None = None,
) -> Problem:
    """The problem for ``entry`` (status defaults to the entry's)."""
    settings = get_recorder().settings
    status = status or entry.http_status
    if settings.problem_type_base:
        problem_type, title = settings.problem_type_base + entry.code, entry.title
    else:
        problem_type, title = "about:blank", _reason(status)
    body: dict[str, Any] = {
        "type": problem_type,
        "title": title,
        "status": status,
        "detail": entry.message,
        "instance": instance,
        "code": entry.code,
    }
    span_context = trace.get_current_span().get_span_context()
    if span_context.is_valid:
        body["trace_id"] = format_trace_id(span_context.trace_id)
    request_id = current_request_id.get()
    if request_id:
        body["request_id"] = request_id
    if errors:
        body["errors"] = errors
    if settings.debug and exc is not None:
        attributes, _ = get_recorder().attributes(exc, handled=status < SERVER_ERROR)
        body["exception"] = {
            "type": attributes["exception.type"],
            "message": attributes["exception.message"],
            "stacktrace": attributes["exception.stacktrace"],
        }
    headers = {"content-type": CONTENT_TYPE}
    if request_id:
        headers[settings.request_id_header] = request_id
    return Problem(status, body, headers)


def for_exception(
    exc: BaseException,
    *,
    instance: str,
    status: int | None = None,
    errors: list[dict[str, Any]] | None = None,
    code: str | None = None,
) -> Problem:
    """Records ``exc`` (handled below 500) and returns its problem response."""
    entry = get_recorder().classifier.resolve(code) if code else _classify(exc)
    final_status = status or entry.http_status
    if not trace.get_current_span().is_recording() and get_recorder().was_recorded(exc):
        # An outer last-resort layer seeing the error again after the request's span.
        return build(entry, instance=instance, status=final_status, errors=errors, exc=exc)
    with own_span_if_none():
        record_error(exc, handled=final_status < SERVER_ERROR, code=entry)
        return build(entry, instance=instance, status=final_status, errors=errors, exc=exc)


def web_code(status: int) -> str:
    """The ``WEB-<status>`` code of an HTTP error status, or the 4xx/5xx catch-all."""
    return rules_web.web_code(status, get_recorder().classifier.catalog)


def _classify(exc: BaseException) -> ErrorCode:
    return get_recorder().classifier.classify(exc).error


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def field_error(location: Any, message: object, kind: object = None) -> dict[str, Any]:
    """One entry of ``errors``: where (dotted path), what, and the validator's kind.

    The offending input value is never included: it may be a password.
    """
    if isinstance(location, (list, tuple)):
        location = ".".join(safe_str(part) for part in location)
    error: dict[str, Any] = {
        "field": safe_str(location),
        "message": truncate(safe_str(message), 300),
    }
    if kind is not None:
        error["type"] = safe_str(kind)
    return error
