"""aiohttp client: error responses recorded on the client span, once with ``raise_for_status``.

Where we hook, and why there: contrib's ``AioHttpClientInstrumentor`` wraps
``ClientSession.__init__`` to add a ``TraceConfig`` whose ``on_request_start``
opens the client span and makes it current, and whose ``on_request_end`` ends it;
we must not wrap ``ClientSession.__init__``. Between the two, aiohttp reads each
response's status line and headers in ``ClientResponse.start``, in the same task
and so inside the client span (inside the application's span without contrib).
An error status is recorded there. Redirect hops have 3xx statuses and are never
recorded.

``ClientResponse.raise_for_status``, which contrib leaves alone, marks the
``ClientResponseError`` it raises for a recorded response. That covers both the
application calling it and ``ClientSession(raise_for_status=True)``, where aiohttp
calls it before ``on_request_exception``: the client span then gets the code but
no second event.

A failed response's ``Otel-Errors-*`` headers (see ``_http_client.read_upstream``) are
read in ``ClientResponse.start`` too, kept on the response, and carried by the recorded
error and by the ``ClientResponseError`` of ``raise_for_status``.
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
)
from otel_errors.integrations._patching import PatchingInstrumentor

if TYPE_CHECKING:
    from collections.abc import Callable


async def _start(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    result = await wrapped(*args, **kwargs)
    try:
        status = instance.status
        if status >= FAILED_STATUS or status in error_statuses():
            _failed(instance)
    except Exception as failure:
        report_internal_failure("aiohttp_client.response", failure)
    return result


def _failed(response: Any) -> None:
    headers = response.headers

    def header(name: str) -> str | None:
        """The only value of ``name``; a repeated header is refused."""
        values = headers.getall(name, ())
        return values[0] if len(values) == 1 else None

    found = read_upstream(response.status, header)
    if found is not None:
        keep_upstream(response, found)
    if response.status in error_statuses():
        _record(response, found)


def _record(response: Any, found: Any) -> None:
    trace_id = record_error_response(
        status=response.status,
        method=str(response.method),
        url=str(response.url),
        reason=response.reason or "",
        retry_after=response.headers.get("Retry-After"),
        failed_upstream=found,
    )
    if trace_id is not None:
        mark_response(response, trace_id)


_PATCHES = ImportPatches(
    "aiohttp_client",
    Patch("aiohttp.client_reqrep", "ClientResponse.start", _start),
    Patch(
        "aiohttp.client_reqrep",
        "ClientResponse.raise_for_status",
        raise_for_status_wrapper(recorded_trace),
    ),
)


class AioHttpClientErrorsInstrumentor(PatchingInstrumentor):
    """Records error responses of aiohttp client sessions as errors on the client span."""

    requirements = ("aiohttp ~= 3.0",)
    """Any aiohttp 3 release."""
    patches = _PATCHES
