"""Environment defaults of the distribution, applied with ``setdefault``: the user's values win.

Shared by the distro (launcher), ``otel_errors.auto`` and ``configure()`` so that the
three ways in build the same pipeline.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import MutableMapping

LOCAL_EXPORTER = "otel_errors_local"
"""Entry point name of the JSON-lines exporters (traces, metrics and logs)."""

_SIGNALS = ("TRACES", "METRICS", "LOGS")


def default_exporter(environ: MutableMapping[str, str], signal: str) -> str:
    """``otlp`` when an OTLP endpoint is configured for ``signal``, else the local exporter.

    This is the embedded default: with no collector configured, errors are still
    written locally instead of being retried against a missing endpoint.
    """
    if environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or environ.get(
        f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT"
    ):
        return "otlp"
    return LOCAL_EXPORTER


def apply_environment_defaults(environ: MutableMapping[str, str]) -> None:
    """Sets the distribution's defaults for variables the user left unset."""
    for signal in _SIGNALS:
        environ.setdefault(f"OTEL_{signal}_EXPORTER", default_exporter(environ, signal))
    environ.setdefault("OTEL_PROPAGATORS", "tracecontext,baggage")
    environ.setdefault("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    environ.setdefault("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")
    # Stable HTTP semantic conventions: http.route, http.response.status_code, error.type.
    environ.setdefault("OTEL_SEMCONV_STABILITY_OPT_IN", "http")
    environ.setdefault("OTEL_PYTHON_CONFIGURATOR", "otel_errors")
