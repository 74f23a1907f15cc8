"""redis-py: its errors by class and by the reply's error prefix (``CACHE-*``)."""

from __future__ import annotations

from otel_errors._internal.model.unit import Unit
from otel_errors.integrations.redis import rules

UNIT = Unit(catalog="errors.toml", rules=rules.register)
