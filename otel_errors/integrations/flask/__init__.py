"""Flask: Werkzeug's HTTP exceptions by their status; the instrumentor answers and records.

Flask logs an escaped exception with the application's own logger, so there is no
server logger to name: the instrumentor records the exception before Flask logs it.
"""

from __future__ import annotations

from otel_errors._internal.model.areas import web
from otel_errors._internal.model.unit import Unit

HTTP_EXCEPTION = "werkzeug.exceptions.HTTPException"

UNIT = Unit(rules=lambda classifier: classifier.add(HTTP_EXCEPTION, web.status_rule(classifier)))
