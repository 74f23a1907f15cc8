"""otel_errors: an OpenTelemetry distribution that makes errors first-class.

Every exception recorded once, with a stable error code, severity, category,
fingerprint and correlation ids. Start it with ``opentelemetry-instrument``,
``import otel_errors.auto`` or :func:`configure`; the three give the same pipeline.

The public names are imported on first use (PEP 562): the launcher imports this
package before it starts the application (for the ``opentelemetry_environment_variables``
entry point), and that must cost nothing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from otel_errors._internal.version import __version__

if TYPE_CHECKING:
    import os
    from collections.abc import Sequence

    from otel_errors._internal.config.settings import ConfigurationError
    from otel_errors._internal.model.catalog import (
        Catalog,
        CatalogError,
        Category,
        ErrorCode,
        Kind,
        Severity,
    )
    from otel_errors._internal.model.classification import CodeRule, Match
    from otel_errors._internal.recording.app_error import AppError
    from otel_errors._internal.recording.handling import ErrorHandler, handle, record_error
    from otel_errors.integrations._http_client import HTTPErrorResponse

_LAZY = {
    "AppError": "otel_errors._internal.recording.app_error",
    "Catalog": "otel_errors._internal.model.catalog",
    "CatalogError": "otel_errors._internal.model.catalog",
    "Category": "otel_errors._internal.model.catalog",
    "ConfigurationError": "otel_errors._internal.config.settings",
    "ErrorCode": "otel_errors._internal.model.catalog",
    "ErrorHandler": "otel_errors._internal.recording.handling",
    "HTTPErrorResponse": "otel_errors.integrations._http_client",
    "Kind": "otel_errors._internal.model.catalog",
    "Severity": "otel_errors._internal.model.catalog",
    "handle": "otel_errors._internal.recording.handling",
    "record_error": "otel_errors._internal.recording.handling",
}


def __getattr__(name: str) -> Any:
    """Imports a public name from its module the first time it is used."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'otel_errors' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


def configure(
    *,
    enabled: bool | None = None,
    catalog: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
    local_dir: str | os.PathLike[str] | None = None,
    local_max_bytes: int | None = None,
    shutdown_deadline: float | None = None,
    max_message_length: int | None = None,
    max_stacktrace_length: int | None = None,
    stack_cache_size: int | None = None,
    capture_locals: bool | None = None,
    http_client_error_statuses: str | None = None,
    metrics_cardinality_limit: int | None = None,
    fingerprints_limit: int | None = None,
    log_console_json: bool | None = None,
    log_export: bool | None = None,
    redaction: bool | None = None,
    redaction_key: str | None = None,
    redaction_allow_keys: Sequence[str] | None = None,
    redaction_rules: str | os.PathLike[str] | None = None,
    redaction_extra_detectors: Sequence[str] | None = None,
    problem_details: str | bool | None = None,
    problem_type_base: str | None = None,
    debug: bool | None = None,
    request_id_header: str | None = None,
    request_id_echo: bool | None = None,
    propagate_errors: bool | None = None,
    service_name: str | None = None,
    environment: str | None = None,
    instrument: bool = True,
) -> None:
    """Sets up tracing, metrics and logs with otel_errors, once per process.

    Each keyword mirrors an ``OTEL_ERRORS_*`` variable (see the README's settings
    table) and wins over it; None means "use the variable or the default". Every
    standard ``OTEL_*`` variable keeps its meaning. Calling it again, or after the
    launcher or ``otel_errors.auto`` configured the process, changes nothing.

    Args:
        enabled: ``OTEL_ERRORS_ENABLED``.
        catalog: ``OTEL_ERRORS_CATALOG``: one or more catalogue TOML files.
        local_dir: ``OTEL_ERRORS_LOCAL_DIR``.
        local_max_bytes: ``OTEL_ERRORS_LOCAL_MAX_BYTES``.
        shutdown_deadline: ``OTEL_ERRORS_SHUTDOWN_DEADLINE``, in seconds.
        max_message_length: ``OTEL_ERRORS_MAX_MESSAGE_LENGTH``.
        max_stacktrace_length: ``OTEL_ERRORS_MAX_STACKTRACE_LENGTH``.
        stack_cache_size: ``OTEL_ERRORS_STACK_CACHE_SIZE``.
        capture_locals: ``OTEL_ERRORS_CAPTURE_LOCALS``.
        http_client_error_statuses: ``OTEL_ERRORS_HTTP_CLIENT_ERROR_STATUSES`` (``"429,500-599"``).
        metrics_cardinality_limit: ``OTEL_ERRORS_METRICS_CARDINALITY_LIMIT``.
        fingerprints_limit: ``OTEL_ERRORS_FINGERPRINTS_LIMIT``.
        log_console_json: ``OTEL_ERRORS_LOG_CONSOLE_JSON``.
        log_export: ``OTEL_ERRORS_LOG_EXPORT``.
        redaction: ``OTEL_ERRORS_REDACTION``.
        redaction_key: ``OTEL_ERRORS_REDACTION_KEY`` (prefer the variable: keep keys out of code).
        redaction_allow_keys: ``OTEL_ERRORS_REDACTION_ALLOW_KEYS``.
        redaction_rules: ``OTEL_ERRORS_REDACTION_RULES``.
        redaction_extra_detectors: ``OTEL_ERRORS_REDACTION_EXTRA_DETECTORS``.
        problem_details: ``OTEL_ERRORS_PROBLEM_DETAILS``: ``"app_errors"``, ``"all"`` or
            ``"off"`` (True is ``"all"``, False ``"off"``).
        problem_type_base: ``OTEL_ERRORS_PROBLEM_TYPE_BASE``.
        debug: ``OTEL_ERRORS_DEBUG``.
        request_id_header: ``OTEL_ERRORS_REQUEST_ID_HEADER``.
        request_id_echo: ``OTEL_ERRORS_REQUEST_ID_ECHO``.
        propagate_errors: ``OTEL_ERRORS_PROPAGATE_ERRORS``.
        service_name: Resource ``service.name`` (else ``OTEL_SERVICE_NAME``).
        environment: Resource ``deployment.environment.name``.
        instrument: Also instrument every installed library, as the launcher does.

    Raises:
        ConfigurationError: a setting or the catalogue is invalid; the message names
            each bad variable or keyword and its value.
    """
    from otel_errors._internal.pipeline.setup import setup

    resource: dict[str, Any] = {}
    if service_name is not None:
        resource["service.name"] = service_name
    if environment is not None:
        resource["deployment.environment.name"] = environment
    setup(
        {
            "enabled": enabled,
            "catalog": catalog,
            "local_dir": local_dir,
            "local_max_bytes": local_max_bytes,
            "shutdown_deadline": shutdown_deadline,
            "max_message_length": max_message_length,
            "max_stacktrace_length": max_stacktrace_length,
            "stack_cache_size": stack_cache_size,
            "capture_locals": capture_locals,
            "http_client_error_statuses": http_client_error_statuses,
            "metrics_cardinality_limit": metrics_cardinality_limit,
            "fingerprints_limit": fingerprints_limit,
            "log_console_json": log_console_json,
            "log_export": log_export,
            "redaction": redaction,
            "redaction_key": redaction_key,
            "redaction_allow_keys": redaction_allow_keys,
            "redaction_rules": redaction_rules,
            "redaction_extra_detectors": redaction_extra_detectors,
            "problem_details": problem_details,
            "problem_type_base": problem_type_base,
            "debug": debug,
            "request_id_header": request_id_header,
            "request_id_echo": request_id_echo,
            "propagate_errors": propagate_errors,
        },
        strict=True,
        resource_attributes=resource,
        instrument=instrument,
    )


def register_exception(match: Match, code: CodeRule) -> None:
    """Maps exceptions to a catalogue code.

    Args:
        match: An exception class, a qualified class name (``"psycopg.errors.UniqueViolation"``,
            so the library need not be imported) or a predicate on the exception.
        code: A code, an ``ErrorCode`` (added to the catalogue), or a function of the
            exception returning one or None (None passes to the next rule).

    Rules registered later win over earlier ones for the same class, so an
    application overrides the shipped defaults by registering its own.
    """
    from otel_errors._internal.recording.runtime import current

    current().registry.classifier.add(match, code)


def classify(exc: BaseException) -> ErrorCode:
    """The catalogue entry for ``exc`` (``UNKNOWN`` when nothing matches). Never raises."""
    from otel_errors._internal.recording.runtime import current

    return current().registry.classifier.classify(exc).error


def get_catalog() -> Catalog:
    """The live catalogue: shipped defaults, application files and Python declarations."""
    from otel_errors._internal.recording.runtime import current

    return current().registry.catalog


__all__ = [
    "AppError",
    "Catalog",
    "CatalogError",
    "Category",
    "ConfigurationError",
    "ErrorCode",
    "ErrorHandler",
    "HTTPErrorResponse",
    "Kind",
    "Severity",
    "__version__",
    "classify",
    "configure",
    "get_catalog",
    "handle",
    "record_error",
    "register_exception",
]
