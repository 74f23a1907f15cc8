"""urllib3: error responses recorded on the client span, once per request.

Where we hook, and why there: contrib's ``URLLib3Instrumentor`` wraps
``HTTPConnectionPool.urlopen`` and opens the client span around it, so we must
not wrap ``urlopen``. Each attempt inside it goes through
``HTTPConnectionPool._make_request``, which returns the response with its
status, inside the client span (and inside the application's span without
contrib). That private method is the only place between the two; it has kept its
name and its ``retries`` keyword throughout urllib3 2.x, the range this
instrumentor declares.

urllib3 may retry a response itself (``Retry(status_forcelist=...)``, or a 503
with ``Retry-After``): such a response is not the outcome of the call, so it is
not recorded. The attempt that urllib3 does not retry is; and when retries run
out, urllib3 raises ``MaxRetryError``, which the span records and the shipped
rules classify by the status in its reason ("too many 503 error responses").

A failed response's ``Otel-Errors-*`` headers (see ``_http_client.read_upstream``) are
read here, kept on the response and carried by the recorded error.

The recorded response is marked, so requests (which calls urllib3) does not record
the same exchange again when both instrumentors are active.
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
    read_upstream,
    record_error_response,
)
from otel_errors.integrations._patching import PatchingInstrumentor

if TYPE_CHECKING:
    from collections.abc import Callable


def _make_request(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    response = wrapped(*args, **kwargs)
    try:
        status = response.status
        if status >= FAILED_STATUS or status in error_statuses():
            _failed(instance, response, args, kwargs)
    except Exception as failure:
        report_internal_failure("urllib3.response", failure)
    return response


def _failed(pool: Any, response: Any, args: Any, kwargs: Any) -> None:
    found = read_upstream(response.status, response.headers.get)
    if found is not None:
        keep_upstream(response, found)
    if response.status in error_statuses():
        _record(pool, response, args, kwargs, found)


def _record(pool: Any, response: Any, args: Any, kwargs: Any, found: Any) -> None:
    method, url = _method_and_url(*args, **kwargs)
    retry_after = response.headers.get("Retry-After")
    is_retry = getattr(kwargs.get("retries"), "is_retry", None)
    if callable(is_retry) and is_retry(method, response.status, bool(retry_after)):
        return
    if url.startswith("/"):
        host = f"[{pool.host}]" if ":" in pool.host else pool.host
        port = f":{pool.port}" if pool.port else ""
        url = f"{pool.scheme}://{host}{port}{url}"
    trace_id = record_error_response(
        status=response.status,
        method=method,
        url=url,
        reason=response.reason or "",
        retry_after=retry_after,
        failed_upstream=found,
    )
    if trace_id is not None:
        mark_response(response, trace_id)


def _method_and_url(conn: Any, method: str, url: str, *args: Any, **kwargs: Any) -> tuple[str, str]:
    return method, url


_PATCHES = ImportPatches(
    "urllib3",
    Patch("urllib3.connectionpool", "HTTPConnectionPool._make_request", _make_request),
)


class URLLib3ErrorsInstrumentor(PatchingInstrumentor):
    """Records error responses of urllib3 as errors on the client span."""

    requirements = ("urllib3 >= 2.0, < 3",)
    """urllib3 2.x (``_make_request`` returns the response there)."""
    patches = _PATCHES
