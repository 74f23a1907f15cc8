"""Where exceptions go: span events, log records or both (``OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN``).

Apart from the recorder so that the runtime reads (and reports a bad value of) the
switch at start-up while the recorder itself is built on first use.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from otel_errors._internal.config.environment_variables import OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN

if TYPE_CHECKING:
    from collections.abc import Mapping

logger = logging.getLogger("otel_errors")

_SIGNALS = {"": (True, False), "logs": (False, True), "logs/dup": (True, True)}


def exception_signals(environ: Mapping[str, str]) -> tuple[bool, bool]:
    """``(as span events, as log records)`` from ``OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN``.

    An unknown value keeps the default (span events) and is logged once, at start-up.
    """
    raw = environ.get(OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN, "")
    value = raw.strip().lower()
    if value not in _SIGNALS:
        logger.warning(
            "otel_errors: %s=%r is not one of 'logs', 'logs/dup'; exceptions stay span events",
            OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN,
            raw,
        )
        value = ""
    return _SIGNALS[value]
