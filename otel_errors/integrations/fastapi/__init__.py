"""FastAPI: it builds on Starlette, whose unit classifies, answers and records for it.

This unit exists for ``otel-errors[fastapi]`` (FastAPI with its contrib
instrumentation) and so that ``otel-errors doctor`` reports it.
"""

from __future__ import annotations

from otel_errors._internal.model.unit import Unit

UNIT = Unit()
