"""RFC 9457 problem details built from the catalogue, shared by every web framework.

When: by default otel_errors changes no response. The application's own
``AppError``s are answered with problem details (raising one is the opt-in);
every other failure only with ``OTEL_ERRORS_PROBLEM_DETAILS=all``, and then with
the status the framework would have given (500 for an unhandled exception, the
``HTTPException``'s own). A client that prefers HTML never gets one: it keeps the
framework's page. :func:`wanted` and :func:`prefers_html` hold that policy for
every framework integration.

The response says what the catalogue says in public (title, message, HTTP status,
code) and how to find the failure (trace id, request id), never the internal
message or a stack trace unless ``OTEL_ERRORS_DEBUG`` is on. ``type`` is
``<OTEL_ERRORS_PROBLEM_TYPE_BASE><code>`` when a base is configured; otherwise
``about:blank`` with the HTTP reason phrase as title, as the RFC asks, and the
catalogue title in ``detail`` when there is no public message.

Errors across services: with ``OTEL_ERRORS_PROPAGATE_ERRORS`` on, a problem also says,
for a calling service to read without parsing prose, the service that answered
(``service``) and where the failure began (``origin_service``, ``origin_code``), and
every failure response of the frameworks carries the same in ``Otel-Errors-*`` headers
(:func:`failure_headers`; see ``recording.upstream`` for the contract). Off by
default: the members and headers name internal services, which a public API may not
want to show, and without the setting every answer stays the framework's.

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

from otel_errors._internal.config.environment_variables import ProblemDetails
from otel_errors._internal.helpers.text import safe_str, truncate
from otel_errors._internal.model.areas import web as rules_web
from otel_errors._internal.recording import upstream
from otel_errors._internal.recording.app_error import AppError
from otel_errors._internal.recording.handling import own_span_if_none, record_error
from otel_errors._internal.recording.request_id import current_request_id
from otel_errors._internal.recording.runtime import get_recorder

if TYPE_CHECKING:
    from otel_errors._internal.model.catalog import ErrorCode

CONTENT_TYPE = "application/problem+json"
SERVER_ERROR = rules_web.SERVER_ERROR
_JSON_TYPES = ("application/json", CONTENT_TYPE)


def wanted(error: BaseException) -> bool:
    """Whether otel_errors answers ``error`` itself, by ``OTEL_ERRORS_PROBLEM_DETAILS``.

    The caller still checks :func:`prefers_html` and the framework's own handlers.
    """
    mode = get_recorder().settings.problem_details
    if mode is ProblemDetails.OFF:
        return False
    return mode is ProblemDetails.ALL or isinstance(error, AppError)


def unhandled_status(error: BaseException) -> int:
    """The status of a problem for an exception that escaped the application.

    An ``AppError`` has its catalogue status; anything else keeps the framework's 500.
    """
    if isinstance(error, AppError):
        return get_recorder().classifier.resolve(error.code).http_status
    return SERVER_ERROR


def prefers_html(accept: str | None) -> bool:
    """Whether a client with this ``Accept`` header ranks HTML above JSON.

    Browsers do (``text/html`` first, ``*/*`` last); API clients, ``*/*`` alone and a
    missing header do not; a tie goes to JSON. Each type takes the quality of the most
    specific range that matches it (RFC 9110, section 12.5.1).
    """
    if not accept:
        return False
    ranges = [_media_range(part) for part in accept.split(",")[:_MAX_RANGES]]
    return _quality_of("text/html", ranges) > max(_quality_of(t, ranges) for t in _JSON_TYPES)


_MAX_RANGES = 32
"""An ``Accept`` header is untrusted input: only this many ranges are read."""


def _media_range(text: str) -> tuple[str, float]:
    kind, _, params = text.partition(";")
    quality = 1.0
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                quality = min(max(float(value.strip()), 0.0), 1.0)
            except ValueError:
                quality = 0.0
    return kind.strip().lower(), quality


def _quality_of(media_type: str, ranges: list[tuple[str, float]]) -> float:
    major = media_type.split("/", 1)[0]
    best_specificity, quality = -1, 0.0
    for kind, q in ranges:
        if kind == media_type:
            specificity = 2
        elif kind == f"{major}/*":
            specificity = 1
        elif kind == "*/*":
            specificity = 0
        else:
            continue
        if specificity > best_specificity:
            best_specificity, quality = specificity, q
    return quality


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
    if settings.propagate_errors:
        across = upstream.answer_headers(exc, entry.code)
        headers.update(across)
        for member, header in _ACROSS_MEMBERS:
            if header in across:
                body[member] = across[header]
    return Problem(status, body, headers)


_ACROSS_MEMBERS = (
    ("service", upstream.HEADER_SERVICE),
    ("origin_service", upstream.HEADER_ORIGIN),
    ("origin_code", upstream.HEADER_ORIGIN_CODE),
)
"""Problem extension members and the headers that carry the same values."""


def failure_headers(exc: BaseException, status: int) -> dict[str, str]:
    """The ``Otel-Errors-*`` headers of a failure answered by the framework itself.

    Empty unless ``OTEL_ERRORS_PROPAGATE_ERRORS`` is on and ``status`` is an error
    status (an application that turns a failure into a 200 answered a success).
    """
    if status < _CLIENT_ERROR or not get_recorder().settings.propagate_errors:
        return {}
    return upstream.answer_headers(exc, _classify(exc).code)


_CLIENT_ERROR = 400


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
