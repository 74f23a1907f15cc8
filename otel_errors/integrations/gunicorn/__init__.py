"""gunicorn: its log of an exception the WSGI application let escape."""

from __future__ import annotations

from otel_errors._internal.model.unit import Unit

UNIT = Unit(server_loggers=("gunicorn.error",))  # "Error handling request"
