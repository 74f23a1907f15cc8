"""httpx (sync and async): error responses recorded on the client span, once.

Where we hook, and why there: contrib's ``HTTPXClientInstrumentor`` wraps
``HTTPTransport.handle_request`` and ``AsyncHTTPTransport.handle_async_request``
(and, per client, the transport instances) and opens the client span around
them, so we must not wrap those. Inside them httpx hands the request to
httpcore's connection pool: ``httpcore.ConnectionPool.handle_request`` and
``httpcore.AsyncConnectionPool.handle_async_request`` (proxies subclass the pool
and inherit them) return the response with its status, inside the client span
(and inside the application's span without contrib). An error status is
recorded there.

``httpx.Response.raise_for_status``, which contrib leaves alone, marks the
``HTTPStatusError`` it raises for a recorded response, so the error is not
recorded again when it crosses the application's span. httpx builds its Response
from httpcore's with a copy of httpcore's ``extensions``, the one thing that
travels from one to the other: the mark travels there, under the key
``_otel_errors_response_recorded_in_trace``.

A failed response's ``Otel-Errors-*`` headers (see ``_http_client.read_upstream``) are
read there too; they travel in ``extensions`` under ``_otel_errors_upstream``, to be
carried by the recorded error and by the ``HTTPStatusError`` of ``raise_for_status()``.

Transports that do not use httpcore (``MockTransport``, ``WSGITransport``,
``ASGITransport``) talk to no remote dependency and are left alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from otel_errors._internal.helpers.fail_open import report_internal_failure
from otel_errors._internal.recording.patching import ImportPatches, Patch
from otel_errors._internal.recording.upstream import MAX_VALUE_LENGTH, Upstream
from otel_errors.integrations._http_client import (
    FAILED_STATUS,
    RESPONSE_MARK,
    UPSTREAM_MARK,
    error_statuses,
    raise_for_status_wrapper,
    read_upstream,
    record_error_response,
)
from otel_errors.integrations._patching import PatchingInstrumentor

if TYPE_CHECKING:
    from collections.abc import Callable


def _handle_request(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    response = wrapped(*args, **kwargs)
    try:  # the status check inline, as in the async wrapper: no call on a success
        status = response.status
        if status >= FAILED_STATUS or status in error_statuses():
            _failed(response, args, kwargs)
    except Exception as failure:
        report_internal_failure("httpx.response", failure)
    return response


async def _handle_async_request(
    wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any
) -> Any:
    response = await wrapped(*args, **kwargs)
    try:
        status = response.status
        if status >= FAILED_STATUS or status in error_statuses():
            _failed(response, args, kwargs)
    except Exception as failure:
        report_internal_failure("httpx.response", failure)
    return response


def _failed(response: Any, args: Any, kwargs: Any) -> None:
    headers = response.headers

    def header(name: str) -> bytes | None:
        """The value, cut just past the bound (so it is refused); a repeated header is refused."""
        wanted = name.lower().encode("ascii")
        found = None
        for key, value in headers:
            if len(key) == len(wanted) and bytes(key).lower() == wanted:
                if found is not None:
                    return None
                found = bytes(value)[: MAX_VALUE_LENGTH + 1]
        return found

    found = read_upstream(response.status, header)
    if found is not None:
        response.extensions[UPSTREAM_MARK] = found
    if response.status in error_statuses():
        _record(response, _request(*args, **kwargs), found)


def _record(response: Any, request: Any, found: Upstream | None) -> None:
    reason = response.extensions.get("reason_phrase", b"")
    retry_after = next(
        (value for name, value in response.headers if name.lower() == b"retry-after"), None
    )
    trace_id = record_error_response(
        status=response.status,
        method=bytes(request.method).decode("ascii", "replace"),
        url=bytes(request.url).decode("ascii", "replace"),
        reason=bytes(reason).decode("latin-1"),
        retry_after=retry_after,
        failed_upstream=found,
    )
    if trace_id is not None:
        response.extensions[RESPONSE_MARK] = trace_id


def _request(request: Any) -> Any:
    return request


def _recorded_trace(response: Any) -> int | None:
    trace_id = response.extensions.get(RESPONSE_MARK)
    return trace_id if isinstance(trace_id, int) else None


def _kept_upstream(response: Any) -> Upstream | None:
    found = response.extensions.get(UPSTREAM_MARK)
    return found if isinstance(found, Upstream) else None


_PATCHES = ImportPatches(
    "httpx",
    Patch("httpcore", "ConnectionPool.handle_request", _handle_request),
    Patch("httpcore", "AsyncConnectionPool.handle_async_request", _handle_async_request),
    Patch(
        "httpx",
        "Response.raise_for_status",
        raise_for_status_wrapper(_recorded_trace, _kept_upstream),
    ),
)


class HTTPXErrorsInstrumentor(PatchingInstrumentor):
    """Records error responses of httpx clients (sync and async) as errors on the client span."""

    requirements = ("httpx >= 0.23", "httpcore >= 0.15")
    """From httpx 0.23 (on httpcore 0.15 or newer)."""
    patches = _PATCHES
