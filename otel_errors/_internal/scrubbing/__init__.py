"""Redaction of secrets and personal data: a pure engine, no OpenTelemetry imports.

``Redactor(RedactionConfig.build(...))`` redacts attribute maps
(:meth:`~Redactor.redact_attributes`) and texts (:meth:`~Redactor.redact_text`); the
span, log and metric adapters live in ``otel_errors._internal.export.redaction``.
"""

from otel_errors._internal.scrubbing.config import RedactionConfig, RedactionConfigError
from otel_errors._internal.scrubbing.engine import DROP, Redactor

__all__ = ["DROP", "RedactionConfig", "RedactionConfigError", "Redactor"]
