"""Attribute, event and metric names that otel_errors promises (see DESIGN.md).

Names that exist in ``opentelemetry.semconv`` are re-exported from there so that
a rename upstream shows up here first; our own ``error.*`` names are declared once.
"""

from typing import Final

from opentelemetry.semconv._incubating.attributes.exception_attributes import (
    EXCEPTION_ESCAPED,
)
from opentelemetry.semconv.attributes.error_attributes import ERROR_TYPE
from opentelemetry.semconv.attributes.exception_attributes import (
    EXCEPTION_MESSAGE,
    EXCEPTION_STACKTRACE,
    EXCEPTION_TYPE,
)

EXCEPTION_EVENT: Final = "exception"

ERROR_CODE: Final = "error.code"
ERROR_SEVERITY: Final = "error.severity"
ERROR_CATEGORY: Final = "error.category"
ERROR_KIND: Final = "error.kind"
ERROR_RETRYABLE: Final = "error.retryable"
ERROR_FINGERPRINT: Final = "error.fingerprint"
ERROR_HANDLED: Final = "error.handled"
ERROR_FINGERPRINT_VERSION: Final = "error.fingerprint.version"
"""Event and metric attribute: the fingerprint scheme, so a change of it is not read as new."""
FINGERPRINTS_METRIC: Final = "otel_errors.fingerprints"
"""Counter of unhandled errors by fingerprint (new and regressed errors per release)."""
ERROR_GROUP_CODES: Final = "error.group.codes"
ERROR_CONTEXT_PREFIX: Final = "error.context."
ERROR_RETRY_AFTER: Final = "error.retry_after"
"""Event attribute: seconds a dependency asked us to wait (its ``Retry-After``), a float."""

ERROR_UPSTREAM_CODE: Final = "error.upstream.code"
"""Client span and event attribute: the error code the called service answered with."""
ERROR_UPSTREAM_SERVICE: Final = "error.upstream.service"
"""Client span and event attribute: the ``service.name`` of the called service that failed."""
ERROR_ORIGIN_SERVICE: Final = "error.origin.service"
"""Client span and event attribute: the service where a failure across services began."""
ERROR_ORIGIN_CODE: Final = "error.origin.code"
"""Client span and event attribute: the error code the failure had where it began."""

ERROR_LOCALS: Final = "error.locals"
"""Event attribute: the failing frames' variables, JSON (see ``recording.frame_locals``)."""

REQUEST_ID: Final = "request.id"
"""Span attribute: the request id echoed by web frameworks (no semconv name exists)."""

METER_NAME: Final = "otel_errors"
INTERNAL_FAILURES_METRIC: Final = "otel_errors.internal_failures"
DROPPED_METRIC: Final = "otel_errors.dropped"

APP_ERROR_MARKER: Final = "_otel_errors_app_error"
"""Class attribute (True) of ``AppError``: the classifier reads ``.code`` of such exceptions
without importing the class (the error model sits below the recording core).
"""
UNKNOWN_CODE: Final = "UNKNOWN"
OVERFLOW_CODE: Final = "OVERFLOW"

__all__ = [
    "APP_ERROR_MARKER",
    "DROPPED_METRIC",
    "ERROR_CATEGORY",
    "ERROR_CODE",
    "ERROR_CONTEXT_PREFIX",
    "ERROR_FINGERPRINT",
    "ERROR_FINGERPRINT_VERSION",
    "ERROR_GROUP_CODES",
    "ERROR_HANDLED",
    "ERROR_KIND",
    "ERROR_LOCALS",
    "ERROR_ORIGIN_CODE",
    "ERROR_ORIGIN_SERVICE",
    "ERROR_RETRYABLE",
    "ERROR_RETRY_AFTER",
    "ERROR_SEVERITY",
    "ERROR_TYPE",
    "ERROR_UPSTREAM_CODE",
    "ERROR_UPSTREAM_SERVICE",
    "EXCEPTION_ESCAPED",
    "EXCEPTION_EVENT",
    "EXCEPTION_MESSAGE",
    "EXCEPTION_STACKTRACE",
    "EXCEPTION_TYPE",
    "FINGERPRINTS_METRIC",
    "INTERNAL_FAILURES_METRIC",
    "METER_NAME",
    "OVERFLOW_CODE",
    "REQUEST_ID",
    "UNKNOWN_CODE",
]
