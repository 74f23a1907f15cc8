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

Why ``start`` is replaced by a plain coroutine function, not wrapped with wrapt as
every other patch of ours is: it runs on every response, successes included, and
wrapt's bound wrapper around a coroutine method cost about 7,000 instructions a call
there (callgrind, 200 GETs: 852,000 a call with a wrapt wrapper that only awaits,
845,000 with a plain function, 844,000 without either), which alone kept aiohttp
above its budget of 3% over contrib (issue 17). The replacement keeps the original
as ``__wrapped__``, with its name and signature, stays a coroutine function, and is
put back on ``uninstrument``; if something else has wrapped it since, ours stays
inside that wrapper (taking the top one off, as ``unwrap`` does, would remove theirs).
"""

from __future__ import annotations

import functools
from types import FunctionType
from typing import TYPE_CHECKING, Any

from otel_errors._internal.helpers.fail_open import report_internal_failure
from otel_errors._internal.recording.patching import ImportPatches, OnImport, Patch
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
    from types import ModuleType


def _answering_start(original: Callable[..., Any]) -> Callable[..., Any]:
    """``ClientResponse.start``, then the status check (see the module docstring)."""

    @functools.wraps(original)
    async def start(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = await original(self, *args, **kwargs)
        try:
            status = self.status
            if status >= FAILED_STATUS or status in error_statuses():
                _failed(self)
        except Exception as failure:
            report_internal_failure("aiohttp_client.response", failure)
        return result

    start.otel_errors_patch = True  # type: ignore[attr-defined]  # what _remove_start looks for
    return start


def _install_start(module: ModuleType) -> None:
    response = module.ClientResponse
    response.start = _answering_start(vars(response)["start"])


def _remove_start(module: ModuleType) -> None:
    response = module.ClientResponse
    installed = vars(response).get("start")
    # type(), not isinstance or getattr: a wrapt proxy put on top of ours answers both
    # as ours would, and taking it off would remove the other wrapper, not ours.
    if type(installed) is FunctionType and vars(installed).get("otel_errors_patch"):
        response.start = vars(installed)["__wrapped__"]


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
    OnImport("aiohttp.client_reqrep", _install_start, _remove_start),
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
