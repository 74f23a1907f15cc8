"""The ``opentelemetry_distro`` entry point: environment defaults for the launcher."""

from __future__ import annotations

import os
from typing import Any

from opentelemetry.instrumentation.distro import BaseDistro  # type: ignore[attr-defined]

from otel_errors._internal.defaults import apply_environment_defaults


class OtelErrorsDistro(BaseDistro):  # type: ignore[misc]  # untyped base
    """Sets defaults (``setdefault``: the user's environment wins) before the configurator runs.

    Defaults: OTLP over HTTP/protobuf with gzip when an endpoint is configured, the
    local JSON-lines exporter otherwise; W3C tracecontext + baggage; stable HTTP
    semantic conventions; and our configurator, even when another one is installed.
    """

    def _configure(self, **kwargs: Any) -> None:  # noqa: ARG002 - BaseDistro's signature
        apply_environment_defaults(os.environ)
