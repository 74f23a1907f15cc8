"""Errors across services, the part that needs the running SDK: our name and our answer.

The contract and the reading of untrusted values are in ``model.upstream``; this adds
:func:`own_service` (the resource's ``service.name``) and :func:`answer_headers`, what
web frameworks answer a failure with when ``OTEL_ERRORS_PROPAGATE_ERRORS`` is on.
"""

from __future__ import annotations

from opentelemetry import trace

from otel_errors._internal.model.upstream import (
    HEADER_CODE,
    HEADER_ORIGIN,
    HEADER_ORIGIN_CODE,
    HEADER_SERVICE,
    HEADERS,
    MAX_VALUE_LENGTH,
    Upstream,
    attach,
    carried_by,
    read,
    valid_code,
    valid_service,
)

__all__ = [
    "HEADERS",
    "HEADER_CODE",
    "HEADER_ORIGIN",
    "HEADER_ORIGIN_CODE",
    "HEADER_SERVICE",
    "MAX_VALUE_LENGTH",
    "Upstream",
    "answer_headers",
    "attach",
    "carried_by",
    "own_service",
    "read",
]


def own_service() -> str | None:
    """This service's ``service.name`` from the tracer provider's resource, if well formed."""
    resource = getattr(trace.get_current_span(), "resource", None)
    if resource is None:
        resource = getattr(trace.get_tracer_provider(), "resource", None)
    value = getattr(resource, "attributes", {}).get("service.name")
    return valid_service(value)


def answer_headers(exc: BaseException | None, code: str) -> dict[str, str]:
    """The headers this service answers a failure with (the contract: ``model.upstream``).

    Args:
        exc: The exception behind the answer, if any (its chain may name an origin).
        code: The code this service gives the failure.
    """
    service = own_service()
    upstream = carried_by(exc) if exc is not None else None
    if upstream is not None:
        origin_service, origin_code = upstream.origin()
    else:
        origin_service, origin_code = service, code
    headers = {HEADER_CODE: code}
    if service:
        headers[HEADER_SERVICE] = service
    if origin_service:
        headers[HEADER_ORIGIN] = origin_service
    headers[HEADER_ORIGIN_CODE] = origin_code
    return {name: value for name, value in headers.items() if _well_formed(name, value)}


def _well_formed(header: str, value: str) -> bool:
    if header in (HEADER_CODE, HEADER_ORIGIN_CODE):
        return valid_code(value) is not None
    return valid_service(value) is not None
