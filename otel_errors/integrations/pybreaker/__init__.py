"""pybreaker: a call an open breaker refused is ``RES-001``."""

from __future__ import annotations

from otel_errors._internal.model.unit import Unit

UNIT = Unit(exceptions={"pybreaker.CircuitBreakerError": "RES-001"})
