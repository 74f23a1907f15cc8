"""HTTP error responses recorded as errors, shared by the HTTP client instrumentors.

A dependency that answers 503 has failed the call, yet HTTP clients raise nothing
unless the application calls ``raise_for_status()``. The instrumentors hand every
response whose status is in ``OTEL_ERRORS_HTTP_CLIENT_ERROR_STATUSES`` to
:func:`record_error_response`, which records it through the one recording path as
an :class:`HTTPErrorResponse` on the current span: the client span of the contrib
instrumentation when it is installed (the instrumentors hook inside it), else the
application's span. The synthetic exception is classified like any other (rules
map its status to ``HTTP-<status>``), so applications can re-map it.

Design choices:

- Its traceback is the call site: the live stack at the moment the response
  arrived, minus our own frames. An exception built without one would give every
  503 of the process one fingerprint and a stack trace saying nothing; this way the
  trace shows which code made the failing call, and the fingerprint tells call
  sites apart as it does for raised exceptions.
- Each recorded response object is marked with the trace id. The mark is how the
  instrumentors keep "once per trace": requests' layer skips a response urllib3's
  layer already recorded (``response.raw``), and ``raise_for_status()`` marks the
  exception it raises for a recorded response (see ``marks.mark_recorded``), so
  the span it later crosses does not record it a second time.
- Errors across services: a failed response (status 400 or more) of a service that
  runs otel_errors may name its code, itself and the origin of the failure in
  ``Otel-Errors-*`` headers (``recording.upstream``). :func:`read_upstream` reads and
  validates them (they are untrusted input), puts them on the client span, and the
  instrumentors keep them on the response (:data:`UPSTREAM_MARK`), on the recorded
  ``HTTPErrorResponse`` and on what ``raise_for_status()`` raises, so that every event
  recorded for the failure, and this service's own answer, names the origin. Only
  failed responses are looked at: a success costs one comparison.
- Suppression: ``suppress_instrumentation`` (set by the SDK's exporters) turns
  recording off. The HTTP-only suppression key is ignored on purpose: contrib
  instrumentations set it inside their own client span, exactly where we record.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from datetime import timezone
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from opentelemetry import trace
from opentelemetry.semconv.attributes.http_attributes import (
    HTTP_REQUEST_METHOD,
    HTTP_RESPONSE_STATUS_CODE,
)
from opentelemetry.semconv.attributes.url_attributes import URL_FULL

from otel_errors._internal import names
from otel_errors._internal.helpers.fail_open import report_internal_failure
from otel_errors._internal.recording import upstream
from otel_errors._internal.recording.marks import mark_recorded
from otel_errors._internal.recording.runtime import current, get_recorder

if TYPE_CHECKING:
    from collections.abc import Callable

    from opentelemetry.util.types import AttributeValue

RESPONSE_MARK = "_otel_errors_response_recorded_in_trace"
"""Attribute (or httpx extension key) holding the trace id a response was recorded in."""

UPSTREAM_MARK = "_otel_errors_upstream"
"""Attribute (or httpx extension key) holding the :class:`~upstream.Upstream` a response named."""

FAILED_STATUS = 400
"""Responses below this status are never read for ``Otel-Errors-*`` headers."""

_MAX_FRAMES = 256
_OWN_MODULE = "otel_errors"


class HTTPErrorResponse(Exception):
    """An HTTP response whose status makes the call a failure, recorded as an exception.

    otel_errors never raises it: HTTP client instrumentors record it on the client
    span when a dependency answers with a status listed in
    ``OTEL_ERRORS_HTTP_CLIENT_ERROR_STATUSES``. Its code comes from the status
    (``HTTP-503``); register a rule for ``otel_errors.HTTPErrorResponse`` to change it.

    Args:
        status_code: The response status.
        method: The request method.
        url: The request URL without credentials, query or fragment.
        reason: The reason phrase, if the server sent one.
        retry_after: Seconds the server asked to wait (``Retry-After``), if any.
    """

    __module__ = "otel_errors"

    def __init__(
        self,
        status_code: int,
        method: str,
        url: str,
        reason: str = "",
        retry_after: float | None = None,
    ) -> None:
        """Keeps the fields as attributes and as ``args`` (so the object pickles)."""
        super().__init__(status_code, method, url, reason, retry_after)
        self.status_code = status_code
        self.method = method
        self.url = url
        self.reason = reason
        self.retry_after = retry_after

    def __str__(self) -> str:
        """``503 Service Unavailable from GET https://host/path``."""
        status = f"{self.status_code} {self.reason}".rstrip()
        return f"{status} from {self.method} {self.url}"


def error_statuses() -> frozenset[int]:
    """The statuses recorded as errors (``OTEL_ERRORS_HTTP_CLIENT_ERROR_STATUSES``).

    Read from the runtime's settings, not through the recorder: every response is
    checked (a status below 400 may be configured), and building or reaching the
    recorder would cost each successful call more Python calls than the check itself.
    """
    return current().settings.http_client_error_statuses


def retry_after_seconds(value: str | bytes | None, now: float | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait (delay-seconds or an HTTP date).

    Args:
        value: The header value, if present.
        now: Current time in seconds since the epoch (``time.time()`` when omitted).

    Returns:
        Non-negative seconds, or None when the header is absent or unreadable.
    """
    if value is None:
        return None
    text = (value.decode("latin-1") if isinstance(value, bytes) else value).strip()
    try:
        seconds = float(text)
    except ValueError:
        from email.utils import parsedate_to_datetime  # the rare date form only

        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        return max(when.timestamp() - (time.time() if now is None else now), 0.0)
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def public_url(url: str) -> str:
    """``url`` without userinfo, query and fragment (they may hold credentials)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def recorded_trace(response: object) -> int | None:
    """The trace id ``response`` was recorded in as an error, or None."""
    trace_id = getattr(response, RESPONSE_MARK, None)
    return trace_id if isinstance(trace_id, int) else None


def mark_response(response: object, trace_id: int) -> None:
    """Remembers on ``response`` that it was recorded in trace ``trace_id``."""
    with contextlib.suppress(Exception):
        setattr(response, RESPONSE_MARK, trace_id)


def read_upstream(
    status: int, header: Callable[[str], str | bytes | None]
) -> upstream.Upstream | None:
    """The upstream failure a failed response names, also set on the current (client) span.

    Args:
        status: The response status; below 400 nothing is read.
        header: Looks a response header up by name, ignoring case (None when absent).

    Returns:
        What the peer said, validated, or None (a success, a peer without otel_errors,
        malformed or oversized values).
    """
    if status < FAILED_STATUS:
        return None
    found = upstream.read(header)
    if found is not None:
        span = trace.get_current_span()
        if span.is_recording():
            span.set_attributes(found.attributes())
    return found


def response_upstream(response: object) -> upstream.Upstream | None:
    """The upstream failure an instrumentor kept on ``response``, if any."""
    found = getattr(response, UPSTREAM_MARK, None)
    return found if isinstance(found, upstream.Upstream) else None


def keep_upstream(response: object, found: upstream.Upstream) -> None:
    """Keeps ``found`` on ``response`` for ``raise_for_status()`` and outer layers."""
    with contextlib.suppress(Exception):
        setattr(response, UPSTREAM_MARK, found)


def record_error_response(
    *,
    status: int,
    method: str,
    url: str,
    reason: str = "",
    retry_after: str | bytes | None = None,
    failed_upstream: upstream.Upstream | None = None,
) -> int | None:
    """Records an error response on the current span, once.

    Args:
        status: The response status (the caller checked it is an error status).
        method: The request method.
        url: The request URL (credentials, query and fragment are dropped here).
        reason: The reason phrase.
        retry_after: The raw ``Retry-After`` header value, if any.
        failed_upstream: What the peer said about the failure (see :func:`read_upstream`).

    Returns:
        The id of the trace it was recorded in, or None when nothing was recorded
        (instrumentation suppressed, or no recording span).
    """
    # Imported here: it pulls in wrapt, and the package root must stay cheap to import.
    from opentelemetry.instrumentation.utils import is_instrumentation_enabled

    if not is_instrumentation_enabled():
        return None
    span = trace.get_current_span()
    if not span.is_recording():
        return None
    seconds = retry_after_seconds(retry_after)
    failure = HTTPErrorResponse(status, method, public_url(url), reason, seconds)
    failure.__traceback__ = call_site()
    if failed_upstream is not None:
        upstream.attach(failure, failed_upstream)
    attributes: dict[str, AttributeValue] = {
        HTTP_RESPONSE_STATUS_CODE: status,
        HTTP_REQUEST_METHOD: method,
        URL_FULL: failure.url,
    }
    if seconds is not None:
        attributes[names.ERROR_RETRY_AFTER] = seconds
    get_recorder().record(span, failure, handled=False, attributes=attributes)
    return span.get_span_context().trace_id


def call_site() -> TracebackType | None:
    """A traceback of the live stack (innermost frames last), without otel_errors' frames."""
    frames: list[FrameType] = []
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and len(frames) < _MAX_FRAMES:
        module = frame.f_globals.get("__name__")
        if not isinstance(module, str) or module.partition(".")[0] != _OWN_MODULE:
            frames.append(frame)
        frame = frame.f_back
    tb: TracebackType | None = None
    for each in frames:
        tb = TracebackType(tb, each, each.f_lasti, each.f_lineno or 0)
    return tb


def raise_for_status_wrapper(
    trace_of: Callable[[Any], int | None],
    upstream_of: Callable[[Any], upstream.Upstream | None] = response_upstream,
) -> Callable[..., Any]:
    """A wrapt wrapper for ``raise_for_status()`` that marks what it raises for recorded responses.

    What it raises also carries the upstream failure the response named, so that an
    exception raised from it (``raise OrderFailed() from exc``) keeps the origin.

    Args:
        trace_of: The trace id a response instance was recorded in, or None.
        upstream_of: The upstream failure kept on a response instance, or None.

    Returns:
        The wrapper; it returns and raises exactly what the original does.
    """

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        try:
            return wrapped(*args, **kwargs)
        except Exception as exc:
            _mark_raised(instance, exc, trace_of, upstream_of)
            raise

    return wrapper


def _mark_raised(
    response: object,
    exc: BaseException,
    trace_of: Callable[[Any], int | None],
    upstream_of: Callable[[Any], upstream.Upstream | None],
) -> None:
    try:
        found = upstream_of(response)
        if found is not None:
            upstream.attach(exc, found)
        trace_id = trace_of(response)
        if trace_id is not None:
            mark_recorded(exc, trace_id)
    except Exception as failure:
        report_internal_failure("http_client.raise_for_status", failure)
