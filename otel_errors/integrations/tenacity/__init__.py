"""tenacity: a ``RetryError`` carries the code of the error it gave up on."""

from __future__ import annotations

from otel_errors._internal.model.areas import resilience
from otel_errors._internal.model.unit import Unit

UNIT = Unit(
    exceptions={"tenacity.RetryError": "RES-002"},
    rules=lambda classifier: classifier.add(
        "tenacity.RetryError", resilience.retry_error_rule(classifier)
    ),
)
