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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opentelemetry import metrics, trace
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
from otel_errors._internal.model.catalog import CatalogError
from otel_errors._internal.pipeline import sdk_patch, shutdown, sigterm
from otel_errors._internal.pipeline.log_export import ErrorsLogRecordProcessor
from otel_errors._internal.pipeline.redaction_setup import build_redactor, set_redactor
from otel_errors._internal.pipeline.span_export import ExportSpanProcessor
from otel_errors._internal.recording import forking, sdk_internals
from otel_errors._internal.recording.active import set_recorder
from otel_errors._internal.recording.recorder import ErrorRecorder
from otel_errors._internal.recording.registry import registry
from otel_errors._internal.scrubbing import RedactionConfig, RedactionConfigError, Redactor
from otel_errors._internal.version import __version__

if TYPE_CHECKING:
    from collections.abc import Mapping

    from opentelemetry.sdk._logs import LogRecordProcessor

logger = logging.getLogger("otel_errors")


@dataclass(frozen=True)
class _Configured:
    settings: Settings
    resource_attributes: Mapping[str, Any]
    owns_providers: bool


_lock = forking.rlock()
_configured: _Configured | None = None


def is_configured() -> bool:
    """Whether :func:`setup` has run in this process."""
    return _configured is not None


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
    global _configured  # noqa: PLW0603 - the pipeline is process-wide
    resource_attributes = dict(resource_attributes or {})
    with _lock:
        settings = _settings(overrides, strict=strict)
        if _configured is not None:
            if (settings, resource_attributes) != (
                _configured.settings,
                _configured.resource_attributes,
            ) and overrides:
                logger.warning(
                    "otel_errors is already configured in this process; "
                    "the new configure() arguments are ignored"
                )
            return
        apply_environment_defaults(os.environ)
        redactor = _redactor(settings, strict=strict) if settings.enabled else None
        if settings.enabled:
            _load_catalog(settings, strict=strict)
            set_recorder(
                ErrorRecorder(settings, registry.classifier, os.environ, registry.enrichers)
            )
        owns = _install_providers(resource_attributes, auto_instrumentation_version, redactor)
        if settings.enabled:
            sdk_patch.install()
            _install_logging(settings)
        if owns:
            sigterm.install()
            shutdown.install()
        _configured = _Configured(settings, resource_attributes, owns)
    if instrument:
        _instrument_installed_libraries()


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


def _load_catalog(settings: Settings, *, strict: bool) -> None:
    problem = _catalog_problem(settings)
    if problem is None:
        return
    message = f"{OTEL_ERRORS_CATALOG}={','.join(settings.catalog)!r}: {problem}"
    if strict:
        raise ConfigurationError(message)
    logger.error("otel_errors: %s; continuing with the codes that did load", message)


def _catalog_problem(settings: Settings) -> str | None:
    try:
        registry.load_files(settings.catalog)
    except CatalogError as exc:
        return str(exc)
    missing = registry.missing_codes()
    if not missing:
        return None
    detail = "; ".join(f"{code} (used by {', '.join(users)})" for code, users in missing.items())
    return f"codes missing from the error catalogue: {detail}"


def _redactor(settings: Settings, *, strict: bool) -> Redactor | None:
    """The configured redactor (None when redaction is off), made the active one."""
    if not settings.redaction:
        set_redactor(
            Redactor(RedactionConfig.build(hash_key=settings.redaction_key), enabled=False)
        )
        return None
    try:
        redactor = build_redactor(settings)
    except RedactionConfigError as exc:
        if strict:
            raise ConfigurationError(str(exc)) from None
        logger.error(  # noqa: TRY400 - one line, the message says everything
            "otel_errors: %s; redacting with the built-in rules only", exc
        )
        redactor = Redactor(RedactionConfig.build(hash_key=settings.redaction_key or None))
    set_redactor(redactor)
    return redactor


def _install_providers(
    resource_attributes: Mapping[str, Any],
    auto_instrumentation_version: str | None,
    redactor: Redactor | None,
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
    sdk_internals.wrap_metric_exporters(
        metrics.get_meter_provider(),
        lambda exporter: MetricExportGate(exporter, Tally(METRIC_POINTS)),
    )
    return True


def tracer_components(
    redactor: Redactor | None,
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
