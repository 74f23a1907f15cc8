"""psycopg2: errors by SQLSTATE (the db area)."""

from __future__ import annotations

from otel_errors._internal.model.areas import db
from otel_errors._internal.model.unit import Unit

UNIT = Unit(
    exceptions={"psycopg2.Error": "DB-1099"},
    rules=lambda classifier: classifier.add("psycopg2.Error", db.postgres_code),
)
