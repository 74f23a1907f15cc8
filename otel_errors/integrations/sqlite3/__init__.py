"""sqlite3: errors by their extended error name or message (the db area)."""

from __future__ import annotations

from otel_errors._internal.model.areas import db
from otel_errors._internal.model.unit import Unit

UNIT = Unit(
    exceptions={
        "sqlite3.ProgrammingError": "DB-1036",
        "sqlite3.InterfaceError": "DB-1036",
        "sqlite3.Error": "DB-1099",
    },
    rules=lambda classifier: classifier.add("sqlite3.Error", db.sqlite_code),
)
