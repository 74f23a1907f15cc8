"""uvicorn: its log of an exception the ASGI application let escape."""

from __future__ import annotations

from otel_errors._internal.model.unit import Unit

UNIT = Unit(server_loggers=("uvicorn.error",))  # "Exception in ASGI application"
