"""psycopg 3: the failing statement, without its values, on the exception event.

Classification does not need this module (``model/areas/db.py`` reads ``sqlstate``). What it
adds is the statement: when ``execute``/``executemany`` fails, the exception is
recorded on the current span with ``db.query.text`` (literals replaced by ``?``,
parameters never read), ``db.operation.name``, ``db.system.name`` and
``db.response.status_code`` (the SQLSTATE), and with the values PostgreSQL puts in
its messages (``DETAIL: Key (email)=(...)``, ``LINE 1: ...``) removed.

Where we hook, and why there: contrib's ``PsycopgInstrumentor`` wraps
``psycopg.connect`` and ``Connection.connect``/``AsyncConnection.connect`` and gives
each connection a cursor factory: a subclass of ``psycopg.Cursor`` (``AsyncCursor``)
whose ``execute`` opens the client span and calls ``super().execute``. We wrap the
base classes' ``execute``/``executemany`` (and the server-side cursors' ``execute``),
which contrib never wraps, so our code runs *inside* its span: the event lands on the
database span, and contrib's own recording of the same exception, when it leaves the
span, finds it recorded. Without contrib the current span is the application's: the
failure is recorded there, as an unhandled failure of the database call, with the
same attributes. That is what keeps PostgreSQL's values out of the exported message
when no database span exists; the price is that the stack trace ends at the call, and
that an error the application goes on to handle stays recorded as unhandled there.
``Connection.execute`` goes through ``Cursor.execute``.

The success path pays for one wrapt layer (see benchmarks/test_bench_db.py); all the
work happens when a call fails.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.semconv.attributes.db_attributes import (
    DB_OPERATION_NAME,
    DB_QUERY_TEXT,
    DB_RESPONSE_STATUS_CODE,
    DB_SYSTEM_NAME,
)

from otel_errors._internal.helpers.fail_open import report_internal_failure
from otel_errors._internal.helpers.sql import operation_name, sanitize_statement
from otel_errors._internal.model.areas.db import sqlstate
from otel_errors._internal.recording.patching import ImportPatches, Patch
from otel_errors.integrations._db_errors import record_db_error
from otel_errors.integrations._patching import PatchingInstrumentor

SYSTEM = "postgresql"
_SYNC = (("Cursor", "execute"), ("Cursor", "executemany"), ("ServerCursor", "execute"))
_ASYNC = (
    ("AsyncCursor", "execute"),
    ("AsyncCursor", "executemany"),
    ("AsyncServerCursor", "execute"),
)


def _execute(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    try:
        return wrapped(*args, **kwargs)
    except Exception as exc:
        _record(exc, instance, args, kwargs, batch=wrapped.__name__ == "executemany")
        raise


async def _execute_async(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    try:
        return await wrapped(*args, **kwargs)
    except Exception as exc:
        _record(exc, instance, args, kwargs, batch=wrapped.__name__ == "executemany")
        raise


def _record(
    exc: Exception, cursor: Any, args: tuple[Any, ...], kwargs: dict[str, Any], *, batch: bool
) -> None:
    try:
        if not is_instrumentation_enabled():
            return
        span = trace.get_current_span()
        if not span.is_recording():
            return
        attributes: dict[str, Any] = {DB_SYSTEM_NAME: SYSTEM}
        statement = _statement_text(args[0] if args else kwargs.get("query"), cursor)
        if statement:
            attributes[DB_QUERY_TEXT] = sanitize_statement(statement)
            operation = operation_name(statement)
            if operation:
                attributes[DB_OPERATION_NAME] = f"BATCH {operation}" if batch else operation
        state = sqlstate(exc)
        if state is not None:
            attributes[DB_RESPONSE_STATUS_CODE] = state
        record_db_error(span, exc, attributes)
    except Exception as failure:
        report_internal_failure("psycopg.record", failure)


def _statement_text(query: Any, cursor: Any) -> str | None:
    """The statement as text: ``str``, ``bytes``, or a ``psycopg.sql`` composition."""
    if isinstance(query, str):
        return query
    if isinstance(query, bytes):
        return query.decode("utf-8", "replace")
    as_string = getattr(query, "as_string", None)
    if as_string is None:
        return None
    try:
        return str(as_string(cursor))
    except Exception:
        # Composing needs a usable connection; after some failures (a terminated
        # session) there is none, and the error is recorded without its statement.
        return None


_PATCHES = ImportPatches(
    "psycopg",
    *(Patch("psycopg", f"{cls}.{method}", _execute) for cls, method in _SYNC),
    *(Patch("psycopg", f"{cls}.{method}", _execute_async) for cls, method in _ASYNC),
)


class PsycopgErrorsInstrumentor(PatchingInstrumentor):
    """Failing psycopg 3 statements, sanitized, on the exception event."""

    requirements = ("psycopg >= 3.1",)
    """Version 3.1 or newer of psycopg."""
    patches = _PATCHES
