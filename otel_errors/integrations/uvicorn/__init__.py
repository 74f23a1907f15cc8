"""uvicorn: its log of an exception the ASGI application let escape, and its own console logs."""

from __future__ import annotations

from otel_errors._internal.model.unit import Unit

UNIT = Unit(
    server_loggers=("uvicorn.error",),  # "Exception in ASGI application"
    # uvicorn's LOGGING_CONFIG: "uvicorn" and "uvicorn.access" do not propagate.
    framework_log_handlers=(
        ("uvicorn", "uvicorn.logging.DefaultFormatter"),
        ("uvicorn.access", "uvicorn.logging.AccessFormatter"),
    ),
)
