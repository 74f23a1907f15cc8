"""gunicorn: its log of an exception the WSGI application let escape, and its own console logs."""

from __future__ import annotations

from otel_errors._internal.model.unit import Unit

UNIT = Unit(
    server_loggers=("gunicorn.error",),  # "Error handling request"
    # glogging.Logger.setup: stdlib formatters with gunicorn's formats, not propagating.
    framework_log_handlers=(
        (
            "gunicorn.error",
            "logging.Formatter:%(asctime)s [%(process)d] [%(levelname)s] %(message)s",
        ),
        ("gunicorn.access", "logging.Formatter:%(message)s"),
    ),
)
