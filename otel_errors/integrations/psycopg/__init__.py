"""psycopg 3: errors by SQLSTATE (the db area); the instrumentor adds the failing statement."""

from __future__ import annotations

from otel_errors._internal.model.areas import db
from otel_errors._internal.model.unit import Unit

UNIT = Unit(
    exceptions={
        "psycopg.errors.ConnectionTimeout": "DB-1001",
        "psycopg_pool.PoolClosed": "DB-1036",
        "psycopg_pool.PoolTimeout": "DB-1050",
        "psycopg_pool.TooManyRequests": "DB-1050",
        "psycopg.Error": "DB-1099",
    },
    rules=lambda classifier: classifier.add("psycopg.Error", db.postgres_code),
)
