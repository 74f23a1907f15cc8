"""aiohttp: client error responses on the span (classification: the http area); the server's log."""

from __future__ import annotations

from otel_errors._internal.model.unit import Unit

UNIT = Unit(server_loggers=("aiohttp.server",))  # "Error handling request"
