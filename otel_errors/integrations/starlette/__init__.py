"""Starlette and FastAPI: Starlette's HTTP exceptions by their status; the instrumentor answers."""

from __future__ import annotations

from otel_errors._internal.model.areas import web
from otel_errors._internal.model.unit import Unit

HTTP_EXCEPTION = "starlette.exceptions.HTTPException"

UNIT = Unit(rules=lambda classifier: classifier.add(HTTP_EXCEPTION, web.status_rule(classifier)))
