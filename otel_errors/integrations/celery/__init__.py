"""Celery: its task failures (``TASK-*``) and ``celery.app.trace``'s log of a failed task."""

from __future__ import annotations

from otel_errors._internal.model.unit import Unit

UNIT = Unit(catalog="errors.toml", server_loggers=("celery.app.trace",))
