"""The ``opentelemetry_configurator`` entry point: builds our pipeline for the launcher."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk._configuration import _BaseConfigurator

from otel_errors._internal.pipeline.setup import setup


class OtelErrorsConfigurator(_BaseConfigurator):
    """Configures the SDK with otel_errors' processors; instruments nothing itself.

    The launcher loads instrumentations right after this, so ``instrument`` is off
    here. Bad ``OTEL_ERRORS_*`` values are logged and replaced by defaults: the
    application is never stopped by its telemetry.
    """

    def _configure(self, **kwargs: Any) -> None:
        setup(
            strict=False,
            auto_instrumentation_version=kwargs.get("auto_instrumentation_version"),
            instrument=False,
        )
