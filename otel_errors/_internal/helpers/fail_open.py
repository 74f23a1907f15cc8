"""Fail-open guard for everything otel_errors runs inside the application's code path.

An internal failure must never reach the application: it is caught here, counted on
``otel_errors.internal_failures`` (attribute ``component``) and logged once per
component, so that lost telemetry is always visible without flooding the log. It keeps
its tiny state (what was logged) here, not in the runtime: it must work when nothing
else does, the runtime's construction included.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from opentelemetry import metrics

from otel_errors._internal.helpers import locks
from otel_errors._internal.names import INTERNAL_FAILURES_METRIC, METER_NAME

if TYPE_CHECKING:
    from opentelemetry.metrics import Counter

logger = logging.getLogger("otel_errors")

_lock = locks.lock()
_logged: set[str] = set()


def _failures_counter() -> Counter:
    # The API's meters are cached by the provider: this is the same counter each time.
    return metrics.get_meter(METER_NAME).create_counter(
        INTERNAL_FAILURES_METRIC,
        unit="{failure}",
        description="Internal otel_errors failures; telemetry may be incomplete.",
    )


def report_internal_failure(component: str, exc: BaseException) -> None:
    """Counts an internal failure and logs it the first time ``component`` fails.

    Never raises: this is the last line of defence.

    Args:
        component: Which part of otel_errors failed (a short stable name).
        exc: The exception that was caught.
    """
    try:
        _failures_counter().add(1, {"component": component})
        with _lock:
            first = component not in _logged
            _logged.add(component)
        if first:
            logger.warning(
                "otel_errors: internal failure in %s (%s: %s); telemetry may be incomplete. "
                "Further failures of this component are only counted on %s.",
                component,
                type(exc).__qualname__,
                _describe(exc),
                INTERNAL_FAILURES_METRIC,
            )
    except Exception:  # noqa: S110 - nothing is left to report to
        pass


def forget_parent_logs() -> None:
    """In a forked child: its own first failure of each component is logged again."""
    _logged.clear()


def _describe(exc: BaseException) -> str:
    try:
        return str(exc)[:200]
    except Exception:
        return "<unprintable>"
