"""SQL databases: PostgreSQL by SQLSTATE, sqlite3 by error name, wrappers by ``.orig``.

The drivers' units (psycopg, psycopg2, sqlite3, sqlalchemy) name their classes and
use these rules; the codes and the protocol knowledge they share live here. Nothing
here imports a driver. psycopg 3 errors carry ``sqlstate`` and psycopg2
errors ``pgcode`` (the five-character SQLSTATE the server sent), which decides the
code: the exact SQLSTATE first, then its two-character class. Errors without one are
client-side: failed connections (``OperationalError``) are told apart by the libpq
message, since libpq reports a refused login or a missing database as text only.

sqlite3 errors have ``sqlite_errorname`` from Python 3.11 (``SQLITE_CONSTRAINT_UNIQUE``);
on 3.10 the English message is all there is, so both are read.

SQLAlchemy raises its ``DBAPIError`` wrappers ``from`` the driver error, and the
classifier already defers to the cause of an unclassified exception. A wrapper seen
before it is raised (``handle_error`` listeners) or built by code that does not chain
it has no cause, only ``.orig``; the last rule follows ``.orig`` then. No rule names
SQLAlchemy's wrapper classes or their bases, so that the driver's code always wins.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from otel_errors._internal.names import UNKNOWN_CODE

if TYPE_CHECKING:
    from collections.abc import Callable

    from otel_errors._internal.model.classification import Classifier

BY_SQLSTATE = {
    "23505": "DB-1002",
    "23503": "DB-1003",
    "23502": "DB-1004",
    "23514": "DB-1005",
    "40001": "DB-1010",
    "40P01": "DB-1011",
    "57014": "DB-1012",
    "55P03": "DB-1013",
    "53300": "DB-1014",
    "53100": "DB-1015",
    "57P01": "DB-1020",
    "57P02": "DB-1020",
    "57P03": "DB-1020",
    "57P05": "DB-1001",
    "25P03": "DB-1001",
    "25006": "DB-1021",
    "42501": "DB-1030",
    "42P01": "DB-1031",
    "42703": "DB-1032",
    "42601": "DB-1033",
    "3D000": "DB-1041",
}
"""Exact SQLSTATEs with a code of their own."""

BY_SQLSTATE_CLASS = {
    "08": "DB-1001",
    "23": "DB-1006",
    "40": "DB-1010",
    "53": "DB-1016",
    "25": "DB-1022",
    "42": "DB-1034",
    "0A": "DB-1034",
    "22": "DB-1035",
    "28": "DB-1040",
}
"""SQLSTATE classes (first two characters) for the codes not listed exactly."""

_CONNECT_MESSAGES = (
    ("too many clients", "DB-1014"),
    ("too many connections", "DB-1014"),  # ... for role "x": before the role check below
    ("connection slots are reserved", "DB-1014"),
    ("the database system is", "DB-1020"),  # starting up, shutting down, in recovery mode
    ("password authentication failed", "DB-1040"),
    ("authentication failed", "DB-1040"),
    ("no pg_hba.conf entry", "DB-1040"),
    ("permission denied", "DB-1030"),  # FATAL:  permission denied for database "x"
    ('role "', "DB-1040"),  # FATAL:  role "x" does not exist
    ('database "', "DB-1041"),  # FATAL:  database "x" does not exist
)
"""libpq connection failures that reach Python without a SQLSTATE, by message."""

_CLOSED_CONNECTION = ("connection already closed", "connection is closed")

_SQLITE_BY_NAME = {
    "SQLITE_CONSTRAINT_UNIQUE": "DB-1002",
    "SQLITE_CONSTRAINT_PRIMARYKEY": "DB-1002",
    "SQLITE_CONSTRAINT_FOREIGNKEY": "DB-1003",
    "SQLITE_CONSTRAINT_NOTNULL": "DB-1004",
    "SQLITE_CONSTRAINT_CHECK": "DB-1005",
    "SQLITE_FULL": "DB-1015",
    "SQLITE_NOMEM": "DB-1016",
    "SQLITE_PERM": "DB-1030",
    "SQLITE_AUTH": "DB-1030",
}
_SQLITE_BY_PREFIX = (
    ("SQLITE_CONSTRAINT", "DB-1006"),
    ("SQLITE_BUSY", "DB-1013"),
    ("SQLITE_LOCKED", "DB-1013"),
    ("SQLITE_READONLY", "DB-1021"),
)
_SQLITE_MESSAGES = (
    ("UNIQUE constraint failed", "DB-1002"),
    ("FOREIGN KEY constraint failed", "DB-1003"),
    ("NOT NULL constraint failed", "DB-1004"),
    ("CHECK constraint failed", "DB-1005"),
    ("database is locked", "DB-1013"),
    ("database table is locked", "DB-1013"),
    ("database or disk is full", "DB-1015"),
    ("attempt to write a readonly database", "DB-1021"),
    ("no such table", "DB-1031"),
    ("no such column", "DB-1032"),
    ("syntax error", "DB-1033"),
)


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a psycopg 3 (``sqlstate``) or psycopg2 (``pgcode``) error, if any."""
    for attribute in ("sqlstate", "pgcode"):
        value = getattr(exc, attribute, None)
        if isinstance(value, str) and len(value) == 5:  # noqa: PLR2004 - SQLSTATE length
            return value
    return None


def status_code(exc: BaseException) -> str | None:
    """``db.response.status_code``: the SQLSTATE, or SQLite's extended error name."""
    name = getattr(exc, "sqlite_errorname", None)
    return sqlstate(exc) or (name if isinstance(name, str) else None)


def postgres_code(exc: BaseException) -> str | None:
    """The code of a psycopg or psycopg2 error, or None for the catalogue's fallback."""
    state = sqlstate(exc)
    if state is not None:
        return BY_SQLSTATE.get(state) or BY_SQLSTATE_CLASS.get(state[:2])
    names = {cls.__name__ for cls in type(exc).__mro__}
    message = _message(exc)
    if "OperationalError" in names:
        return next((c for text, c in _CONNECT_MESSAGES if text in message), "DB-1001")
    if "InterfaceError" in names and any(text in message for text in _CLOSED_CONNECTION):
        return "DB-1001"
    if "InterfaceError" in names or "ProgrammingError" in names:
        return "DB-1036"
    return None


def sqlite_code(exc: BaseException) -> str | None:
    """The code of a sqlite3 error, by ``sqlite_errorname`` or, failing that, message."""
    name = getattr(exc, "sqlite_errorname", None)
    if isinstance(name, str):
        code = _SQLITE_BY_NAME.get(name)
        if code is not None:
            return code
        code = next((c for prefix, c in _SQLITE_BY_PREFIX if name.startswith(prefix)), None)
        if code is not None:
            return code
    message = _message(exc)
    return next((c for text, c in _SQLITE_MESSAGES if text in message), None)


def _message(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:
        return ""


def driver_error_rule(classifier: Classifier) -> Callable[[BaseException], str | None]:
    """The rule of a wrapper that keeps the driver's error in ``.orig`` (SQLAlchemy's).

    A wrapper not (yet) raised from the driver error has no ``__cause__``, only ``.orig``.
    """

    def driver_error_code(exc: BaseException) -> str | None:
        orig = getattr(exc, "orig", None)
        if exc.__cause__ is None and isinstance(orig, BaseException) and orig is not exc:
            entry = classifier.classify(orig).error
            return None if entry.code == UNKNOWN_CODE else entry.code
        return None

    return driver_error_code
