"""httpx: HTTP error responses on the client span (classification: the http area)."""

from __future__ import annotations

from otel_errors._internal.model.unit import Unit

UNIT = Unit()
