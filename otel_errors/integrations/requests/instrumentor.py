"""requests: error responses recorded on the client span, once with ``raise_for_status``.

Where we hook, and why there: contrib's ``RequestsInstrumentor`` replaces
``Session.send`` and opens the client span around it, so we must not touch
``Session.send``. ``HTTPAdapter.send`` runs inside that span (and inside the
application's span without contrib), once per request and per redirect hop, and
returns the response with its status: an error status is recorded there, unless
the urllib3 instrumentor already recorded the same exchange (``response.raw``).

``Response.raise_for_status``, which contrib leaves alone, marks the ``HTTPError``
it raises for a response recorded that way, so the error is not recorded again
when it crosses the application's span. Exceptions of requests itself need no
hook: the client span (or the application's) records them, and the shipped rules
classify them, down to the socket error inside.

A failed response's ``Otel-Errors-*`` headers (see ``_http_client.read_upstream``) are
read in ``HTTPAdapter.send`` too, kept on the response, and carried by the recorded
error and by the ``HTTPError`` of ``raise_for_status()``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from otel_errors._internal.helpers.fail_open import report_internal_failure
from otel_errors._internal.recording.patching import ImportPatches, Patch
from otel_errors.integrations._http_client import (
    FAILED_STATUS,
    error_statuses,
    keep_upstream,
    mark_response,
    raise_for_status_wrapper,
    read_upstream,
    record_error_response,
    recorded_trace,
    response_upstream,
)
from otel_errors.integrations._patching import PatchingInstrumentor

if TYPE_CHECKING:
    from collections.abc import Callable


def _send(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    response = wrapped(*args, **kwargs)
    try:
        status = response.status_code
        if status >= FAILED_STATUS or status in error_statuses():
            _failed(response)
    except Exception as failure:
        report_internal_failure("requests.response", failure)
    return response


def _failed(response: Any) -> None:
    found = response_upstream(response.raw) or read_upstream(
        response.status_code, response.headers.get
    )
    if found is not None:
        keep_upstream(response, found)
    if response.status_code in error_statuses():
        _record(response, found)


def _record(response: Any, found: Any) -> None:
    trace_id = recorded_trace(response.raw)
    if trace_id is None:
        request = response.request
        trace_id = record_error_response(
            status=response.status_code,
            method=str(request.method),
            url=str(request.url),
            reason=response.reason or "",
            retry_after=response.headers.get("Retry-After"),
            failed_upstream=found,
        )
    if trace_id is not None:
        mark_response(response, trace_id)


_PATCHES = ImportPatches(
    "requests",
    Patch("requests.adapters", "HTTPAdapter.send", _send),
    Patch("requests.models", "Response.raise_for_status", raise_for_status_wrapper(recorded_trace)),
)


class RequestsErrorsInstrumentor(PatchingInstrumentor):
    """Records error responses of requests as errors on the client span."""

    requirements = ("requests >= 2.0",)
    """Any requests release from 2.0."""
    patches = _PATCHES
