"""The recorder in use: the one ``configure()`` built, or a default one made on first use.

``record_error`` and ``handle`` work before (or without) ``configure()``: they then
record with default limits on whatever tracer provider is installed.
"""

from __future__ import annotations

import os

from otel_errors._internal.config.settings import Settings
from otel_errors._internal.recording import forking
from otel_errors._internal.recording.recorder import ErrorRecorder
from otel_errors._internal.recording.registry import registry

_lock = forking.lock()
_recorder: ErrorRecorder | None = None


def get_recorder() -> ErrorRecorder:
    """The active recorder (created with default settings if none was configured)."""
    recorder = _recorder
    if recorder is not None:
        return recorder
    with _lock:
        if _recorder is not None:
            return _recorder
        # configure() reports bad variables; recording before it uses the defaults.
        settings, _ = Settings.resolve()
        recorder = ErrorRecorder(settings, registry.classifier, os.environ, registry.enrichers)
        set_recorder(recorder)
        return recorder


def set_recorder(recorder: ErrorRecorder) -> None:
    """Makes ``recorder`` the one every recording path uses."""
    global _recorder  # noqa: PLW0603 - the process-wide recorder
    _recorder = recorder


def forget_parent_counts() -> None:
    """In a forked child: the errors counter's series start empty, as its metric storage does."""
    recorder = _recorder
    if recorder is not None:
        recorder.metrics.forget_series()
