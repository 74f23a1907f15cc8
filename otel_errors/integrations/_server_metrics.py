"""Request counts per endpoint when no contrib HTTP server instrumentation provides them.

Error *rates* need a denominator. The contrib server instrumentations record
``http.server.request.duration`` (a histogram whose count is the request count)
with ``http.route``; when they are not installed, our framework integrations record
the same instrument with the same attributes, so that one PromQL expression gives
the error rate per endpoint either way::

    sum by (service_name, http_route) (rate(errors_total[5m]))
      / sum by (service_name, http_route) (rate(http_server_request_duration_seconds_count[5m]))

A framework integration calls :func:`contrib_is_active` at the start of a request
(is a server span current?) and :func:`record_request` at its end only when not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.trace import SpanKind

from otel_errors._internal.recording.runtime import current

if TYPE_CHECKING:
    from opentelemetry.util.types import AttributeValue

_SERVER_ERROR = 500
# Semantic conventions' advice for http.server.request.duration, in seconds.
_BOUNDARIES = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)


def contrib_is_active() -> bool:
    """Whether a server span (from a contrib instrumentation) is current."""
    span = trace.get_current_span()
    return span.is_recording() and getattr(span, "kind", None) is SpanKind.SERVER


def record_request(route: str | None, method: str, status: int, duration_s: float) -> None:
    """Records one finished request on ``http.server.request.duration``."""
    histogram = current().instruments.histogram(
        "http.server.request.duration",
        unit="s",
        description="Duration of HTTP server requests (otel_errors, without contrib).",
        boundaries=list(_BOUNDARIES),
    )
    attributes: dict[str, AttributeValue] = {
        "http.request.method": method,
        "http.response.status_code": status,
    }
    if route:
        attributes["http.route"] = route
    if status >= _SERVER_ERROR:
        attributes["error.type"] = str(status)
    histogram.record(duration_s, attributes)
