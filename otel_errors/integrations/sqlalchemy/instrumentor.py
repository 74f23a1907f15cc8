"""SQLAlchemy: failed statements recorded, sanitized, on the statement's span.

Classification does not need this module: SQLAlchemy raises its ``DBAPIError``
wrappers ``from`` the driver error, whose code they take (``model/areas/db.py``). What it
adds is the failing statement, for every driver (psycopg, psycopg2, sqlite3, ...):
``db.query.text`` with literals replaced by ``?`` (SQLAlchemy passes parameters
separately; they are never read), ``db.operation.name``, ``db.system.name``,
``db.response.status_code`` (SQLSTATE or SQLite error name), and the message without
SQLAlchemy's ``[parameters: ...]`` or PostgreSQL's ``DETAIL`` values.

Where we hook, and why there: SQLAlchemy's own extension point for failures is the
``handle_error`` event, which sees the statement, the driver error and the wrapper
about to be raised. We listen on the ``Engine`` class (every engine, the sync engine
behind an ``AsyncEngine`` included) and wrap nothing. Contrib's
``SQLAlchemyInstrumentor`` wraps ``create_engine`` and ``Engine.connect`` and listens on
each engine it creates; its ``handle_error`` listener ends the statement's span with
status ERROR but records no exception. Class-level listeners run before per-engine
ones, so ours finds that span still open (contrib keeps it on the execution context
as ``_otel_span``) and records the wrapper there; without contrib, on the current
span (the application's: an error it goes on to handle stays recorded as unhandled
there, the price of keeping SQLAlchemy's ``[parameters: ...]`` out of the message).
Recording the wrapper (the object the application receives) rather than the driver
error is what makes the layers above find it recorded; the wrapper is given its cause
and frames first (see ``_chain_like_sqlalchemy``). Failures of the pool's
pre-ping are left alone: SQLAlchemy replaces the stale connection and the application
never sees them. Our listener returns nothing and never raises: a ``handle_error``
listener that raises would replace the application's exception.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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
from otel_errors._internal.model.areas.db import status_code
from otel_errors._internal.recording.patching import ImportPatches, OnImport
from otel_errors.integrations._db_errors import record_db_error
from otel_errors.integrations._patching import PatchingInstrumentor

if TYPE_CHECKING:
    from types import ModuleType

    from sqlalchemy.engine import ExceptionContext

SYSTEMS = {
    "postgresql": "postgresql",
    "sqlite": "sqlite",
    "mysql": "mysql",
    "mariadb": "mariadb",
    "mssql": "microsoft.sql_server",
    "oracle": "oracle.db",
}
"""``db.system.name`` by SQLAlchemy dialect name; others are ``other_sql``."""
_CONTRIB_SPAN = "_otel_span"


def _listen(sqlalchemy: ModuleType) -> None:
    from sqlalchemy import event  # imported already: sqlalchemy is

    event.listen(sqlalchemy.engine.Engine, "handle_error", handle_error)


def _stop_listening(sqlalchemy: ModuleType) -> None:
    from sqlalchemy import event

    event.remove(sqlalchemy.engine.Engine, "handle_error", handle_error)


def handle_error(context: ExceptionContext) -> None:
    """The ``handle_error`` listener: records the failure, changes nothing."""
    try:
        if not is_instrumentation_enabled() or getattr(context, "is_pre_ping", False):
            return  # suppressed, or a stale pooled connection SQLAlchemy replaces itself
        exc = context.sqlalchemy_exception or context.original_exception
        _chain_like_sqlalchemy(exc, context.original_exception)
        span = getattr(context.execution_context, _CONTRIB_SPAN, None)
        if not isinstance(span, trace.Span) or not span.is_recording():
            span = trace.get_current_span()
        dialect = getattr(context.dialect, "name", "")
        attributes: dict[str, Any] = {DB_SYSTEM_NAME: SYSTEMS.get(dialect, "other_sql")}
        statement = context.statement
        if isinstance(statement, str) and statement:
            attributes[DB_QUERY_TEXT] = sanitize_statement(statement)
            operation = operation_name(statement)
            if operation:
                batch = bool(getattr(context.execution_context, "executemany", False))
                attributes[DB_OPERATION_NAME] = f"BATCH {operation}" if batch else operation
        status = status_code(context.original_exception)
        if status is not None:
            attributes[DB_RESPONSE_STATUS_CODE] = status
        record_db_error(span, exc, attributes)
    except Exception as failure:
        report_internal_failure("sqlalchemy.handle_error", failure)


def _chain_like_sqlalchemy(wrapper: BaseException, original: BaseException | None) -> None:
    """Gives the wrapper the cause and frames SQLAlchemy gives it when it raises it.

    The listener runs before SQLAlchemy's ``raise wrapper.with_traceback(tb) from
    original``; setting the same two things a moment earlier lets the event carry the
    driver error and its frames (and a fingerprint made from them) instead of a bare
    line. The application receives the object in exactly the state it would anyway.
    """
    if wrapper is original or original is None or wrapper.__cause__ is not None:
        return
    wrapper.__cause__ = original
    wrapper.with_traceback(original.__traceback__)


_PATCHES = ImportPatches("sqlalchemy", OnImport("sqlalchemy", _listen, _stop_listening))


class SQLAlchemyErrorsInstrumentor(PatchingInstrumentor):
    """Failing SQLAlchemy statements, sanitized, on the exception event."""

    requirements = ("sqlalchemy >= 1.4",)
    """SQLAlchemy 1.4 or newer."""
    patches = _PATCHES
