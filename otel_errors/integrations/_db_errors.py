"""Recording a failed database or cache call (psycopg, SQLAlchemy and Redis instrumentors).

The instrumentors see the failure where it happens, with the statement at hand, and
record it right there through the recorder (``attributes=`` carries the ``db.*``
attributes of the semantic conventions). That first recording is the one that
counts: whoever sees the same exception object later in the trace (the contrib
span's context manager, the application's span, a framework) finds it recorded.

Database error texts hold values (PostgreSQL's ``DETAIL``/``LINE`` lines, SQLAlchemy's
``[parameters: ...]``), so the message and the stack trace computed by the recorder
are passed through :func:`otel_errors._internal.helpers.sql.sanitize_error_text` and given
back as attributes, which win over the computed ones.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from otel_errors._internal import names
from otel_errors._internal.helpers.sql import sanitize_error_text
from otel_errors._internal.recording.runtime import get_recorder

if TYPE_CHECKING:
    from opentelemetry import trace


def record_db_error(span: trace.Span, exc: BaseException, attributes: dict[str, Any]) -> None:
    """Records ``exc`` as the unhandled failure of a call on ``span``, values removed.

    Args:
        span: The span of the call (a contrib client span, or the current span).
        exc: The exception the call raised.
        attributes: ``db.*`` attributes for the event (changed in place).
    """
    if not span.is_recording():
        return
    recorder = get_recorder()
    computed, _ = recorder.attributes(exc, handled=False)
    for key in (names.EXCEPTION_MESSAGE, names.EXCEPTION_STACKTRACE):
        value = computed.get(key)
        if isinstance(value, str):
            attributes[key] = sanitize_error_text(value)
    recorder.record(span, exc, handled=False, attributes=attributes)
