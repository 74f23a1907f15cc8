"""One pipeline, three ways in: the launcher, ``import otel_errors.auto`` and ``configure()``.

All three end in :func:`setup`, which runs once per process: a second call (from
another way in, or the same one) changes nothing and never installs a second
provider. Providers are built by the SDK's own ``_initialize_components`` (the
function its configurator uses), so every ``OTEL_*`` variable keeps its meaning;
we add our processors and patch, and pick default exporters.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from opentelemetry import _logs, metrics, trace
from opentelemetry.sdk._configuration import (
    _ConfigurationExporterSpanProcessorT,
    _initialize_components,
)
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from otel_errors._internal.config.defaults import apply_environment_defaults
from otel_errors._internal.config.environment_variables import OTEL_ERRORS_CATALOG
from otel_errors._internal.config.settings import ConfigurationError, Settings
from otel_errors._internal.export.delivery import (
    LOG_RECORDS,
    METRIC_POINTS,
    SPANS,
    ExportLogRecordProcessor,
    LogExportGate,
    MetricExportGate,
    SpanExportGate,
    Tally,
)
from otel_errors._internal.export.redaction import RedactingLogExporter, RedactingSpanExporter
from otel_errors._internal.helpers import locks
from otel_errors._internal.model.catalog import CatalogError
from otel_errors._internal.pipeline import sdk_patch, shutdown, sigterm
from otel_errors._internal.pipeline.log_export import ErrorsLogRecordProcessor
from otel_errors._internal.pipeline.redaction_setup import redactor_source
from otel_errors._internal.pipeline.span_export import ExportSpanProcessor
from otel_errors._internal.recording import sdk_internals
from otel_errors._internal.recording.app_error import declared_app_error_codes
from otel_errors._internal.recording.runtime import Runtime, current, install, installed
from otel_errors._internal.version import __version__

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from opentelemetry.sdk._logs import LogRecordProcessor

    from otel_errors._internal.scrubbing import Redactor

logger = logging.getLogger("otel_errors")


@dataclass
class SetUp:
    """What setup was given and did (a runtime part)."""

    resource_attributes: Mapping[str, Any] = field(default_factory=dict)
    owns_providers: bool = False


_lock = locks.rlock()


def is_configured() -> bool:
    """Whether :func:`setup` has run in this process."""
    runtime = installed()
    return runtime is not None and runtime.configured


def setup(
    overrides: Mapping[str, Any] | None = None,
    *,
    strict: bool,
    resource_attributes: Mapping[str, Any] | None = None,
    auto_instrumentation_version: str | None = None,
    instrument: bool,
) -> None:
    """Builds the pipeline once.

    Args:
        overrides: ``configure()`` keywords for ``OTEL_ERRORS_*`` settings.
        strict: Raise ``ConfigurationError`` on bad settings (``configure()``); otherwise
            log one error and use defaults for the bad values (the launcher and
            ``otel_errors.auto`` must never stop the application).
        resource_attributes: Extra resource attributes (service name, environment).
        auto_instrumentation_version: Reported by the launcher as ``telemetry.auto.version``.
        instrument: Load every installed ``opentelemetry_instrumentor`` entry point.

    Raises:
        ConfigurationError: with ``strict``, any invalid setting or catalogue.
    """
    resource_attributes = dict(resource_attributes or {})
    with _lock:
        settings = _settings(overrides, strict=strict)
        if is_configured():
            _warn_if_changed(settings, resource_attributes, overrides)
            return
        apply_environment_defaults(os.environ)
        earlier = installed()  # rules registered before setup are kept
        runtime = Runtime(
            settings,
            registry=earlier.registry if earlier is not None else None,
            redactor=redactor_source(settings, strict=strict),
            configured=True,
        )
        if settings.enabled and _catalog_to_check(runtime):
            _load_catalog(runtime, strict=strict)
        install(runtime)
        runtime.part(SetUp).resource_attributes = resource_attributes
        redactor = (lambda: runtime.redactor) if settings.enabled and settings.redaction else None
        owns = _install_providers(resource_attributes, auto_instrumentation_version, redactor)
        runtime.part(SetUp).owns_providers = owns
        if settings.enabled:
            sdk_patch.install()
            _install_logging(settings)
        if owns:
            sigterm.install()
            shutdown.install()
    if instrument:
        _instrument_installed_libraries()


def _warn_if_changed(
    settings: Settings, resource_attributes: Mapping[str, Any], overrides: object
) -> None:
    runtime = current()
    before = (runtime.settings, runtime.part(SetUp).resource_attributes)
    if overrides and (settings, resource_attributes) != before:
        logger.warning(
            "otel_errors is already configured in this process; "
            "the new configure() arguments are ignored"
        )


def _settings(overrides: Mapping[str, Any] | None, *, strict: bool) -> Settings:
    if strict:
        return Settings.load(overrides)
    settings, problems = Settings.resolve(overrides)
    if problems:
        logger.error(
            "otel_errors: invalid configuration, using defaults for these settings: %s",
            "; ".join(problems),
        )
    return settings


def _catalog_to_check(runtime: Runtime) -> bool:
    """Whether the catalogue check could find anything now.

    With no catalogue file, no ``AppError`` code (inline declarations are ``AppError``
    codes too) and no rule added before setup, only
    the shipped knowledge would be checked, and ``tests/test_catalog.py`` holds it
    consistent: the registry is then left to be built on first use.
    """
    return bool(runtime.settings.catalog or runtime.registry_is_built or declared_app_error_codes())


def _load_catalog(runtime: Runtime, *, strict: bool) -> None:
    problem = _catalog_problem(runtime)
    if problem is None:
        return
    message = f"{OTEL_ERRORS_CATALOG}={','.join(runtime.settings.catalog)!r}: {problem}"
    if strict:
        raise ConfigurationError(message)
    logger.error("otel_errors: %s; continuing with the codes that did load", message)


def _catalog_problem(runtime: Runtime) -> str | None:
    registry = runtime.registry
    try:
        registry.load_files(runtime.settings.catalog)
    except CatalogError as exc:
        return str(exc)
    problems = list(registry.conflicts)
    missing = registry.missing_codes(declared_app_error_codes())
    if missing:
        detail = "; ".join(f"{code} (used by {', '.join(u)})" for code, u in missing.items())
        problems.append(f"codes missing from the error catalogue: {detail}")
    return "; ".join(problems) or None


def _install_providers(
    resource_attributes: Mapping[str, Any],
    auto_instrumentation_version: str | None,
    redactor: Callable[[], Redactor] | None,
) -> bool:
    """Builds SDK providers unless someone else already did; returns whether we built them."""
    if isinstance(trace.get_tracer_provider(), TracerProvider):
        logger.warning(
            "otel_errors: an SDK TracerProvider was installed before otel_errors was configured; "
            "it is kept as it is (exceptions recorded on it still get error codes)"
        )
        return False
    attributes: dict[str, Any] = {
        "telemetry.distro.name": "otel_errors",
        "telemetry.distro.version": __version__,
        **resource_attributes,
    }
    processors, export_processor = tracer_components(redactor)

    def export_log_processor(
        exporter: LogRecordExporter, *args: Any, **kwargs: Any
    ) -> LogRecordProcessor:
        tally = Tally(LOG_RECORDS)
        exporter = LogExportGate(exporter, tally)
        if redactor is not None:
            exporter = RedactingLogExporter(exporter, redactor)
        return ExportLogRecordProcessor(BatchLogRecordProcessor(exporter, *args, **kwargs), tally)

    _initialize_components(
        auto_instrumentation_version=auto_instrumentation_version,
        resource_attributes=attributes,
        span_processors=processors,
        export_span_processor=export_processor,
        log_record_processors=[ErrorsLogRecordProcessor()],
        export_log_record_processor=export_log_processor,
    )
    sdk_internals.hash_resources_once(trace.get_tracer_provider(), _logs.get_logger_provider())
    sdk_internals.wrap_metric_exporters(
        metrics.get_meter_provider(),
        lambda exporter: MetricExportGate(exporter, Tally(METRIC_POINTS)),
    )
    return True


def tracer_components(
    redactor: Redactor | Callable[[], Redactor] | None,
) -> tuple[list[SpanProcessor], _ConfigurationExporterSpanProcessorT]:
    """Our span processors, and how each exporter is wrapped into an exporting processor.

    Every exporter is wrapped by its export gate (which counts what is lost), the
    redaction (when on), then batched, then by our span-level processor. Public to
    the benchmarks, which build the same tracer provider with a dropping exporter to
    compare it with the vanilla SDK.
    """

    def exporting_processor(
        span_exporter: SpanExporter, *args: Any, **kwargs: Any
    ) -> SpanProcessor:
        tally = Tally(SPANS)
        span_exporter = SpanExportGate(span_exporter, tally)
        if redactor is not None:
            span_exporter = RedactingSpanExporter(span_exporter, redactor)
        return ExportSpanProcessor(BatchSpanProcessor(span_exporter, *args, **kwargs), tally)

    return [], exporting_processor


def _install_logging(settings: Settings) -> None:
    if not (settings.log_console_json or settings.log_export):
        return
    from otel_errors.logging import install

    try:
        install(console=settings.log_console_json, otel=settings.log_export)
    except Exception:
        logger.exception("otel_errors: setting up structured logging failed; continuing without")


def _instrument_installed_libraries() -> None:
    """What the launcher does after configuring: instrument every installed library."""
    from opentelemetry.instrumentation.auto_instrumentation._load import _load_instrumentors

    from otel_errors._internal.pipeline.distro import OtelErrorsDistro

    try:
        _load_instrumentors(OtelErrorsDistro())  # type: ignore[no-untyped-call]
    except Exception:
        logger.exception("otel_errors: loading instrumentations failed; continuing without them")
