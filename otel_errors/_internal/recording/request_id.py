"""The request id: read from the incoming header or generated, echoed, on spans and in logs.

Incoming values are untrusted: only ids of 1..128 characters from a safe alphabet are
kept (anything else could smuggle log lines or markup into every place the id is
written); otherwise a new id is generated. The id lives in a context variable, so
logs written while the request runs carry it without the application passing it.
"""

from __future__ import annotations

import contextvars
import re
import uuid

from opentelemetry import trace

from otel_errors._internal.names import REQUEST_ID

_SAFE = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")

current_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "otel_errors_request_id", default=None
)


def resolve(incoming: str | bytes | None) -> str:
    """The incoming id when it is safe, else a new random one."""
    if isinstance(incoming, bytes):
        incoming = incoming.decode("latin-1")
    if incoming and _SAFE.match(incoming):
        return incoming
    return uuid.uuid4().hex


def begin(incoming: str | bytes | None) -> tuple[str, contextvars.Token[str | None]]:
    """Resolves the id, makes it current, and puts it on the current span."""
    request_id = resolve(incoming)
    token = current_request_id.set(request_id)
    span = trace.get_current_span()
    if span.is_recording():
        span.set_attribute(REQUEST_ID, request_id)
    return request_id, token


def end(token: contextvars.Token[str | None]) -> None:
    """Restores the previous request id."""
    current_request_id.reset(token)
