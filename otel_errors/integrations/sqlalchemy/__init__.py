"""SQLAlchemy: its own errors by class, wrappers by the driver error they carry.

No rule names SQLAlchemy's ``DBAPIError`` wrappers, so that the driver's code wins
(the classifier follows their cause, the rule below their ``.orig``). The instrumentor
adds the failing statement.
"""

from __future__ import annotations

from otel_errors._internal.model.areas import db
from otel_errors._internal.model.unit import Unit

UNIT = Unit(
    exceptions={
        "sqlalchemy.exc.InvalidRequestError": "DB-1036",
        "sqlalchemy.exc.ArgumentError": "DB-1036",
        "sqlalchemy.exc.CompileError": "DB-1036",
        "sqlalchemy.exc.TimeoutError": "DB-1050",
        "sqlalchemy.exc.NoResultFound": "DB-1060",
        "sqlalchemy.exc.MultipleResultsFound": "DB-1061",
        "sqlalchemy.orm.exc.StaleDataError": "DB-1062",
    },
    rules=lambda classifier: classifier.add(
        "sqlalchemy.exc.StatementError", db.driver_error_rule(classifier)
    ),
)
