"""The ``otel_errors.fingerprints`` counter: unhandled errors by fingerprint.

Why a second counter: the ``errors`` counter is by code and endpoint, which says how
much fails but not whether a failure is one never seen before. Prometheus keeps this
counter's history across replicas and restarts, and the release rules (see
``tooling.release_rules``) compare a fingerprint's activity now with its activity over
the retention window: a fingerprint never seen in a service is new, one that comes
back after an absence is a regression. ``service.version`` comes from the resource.

Its attributes are ``error.fingerprint``, ``error.fingerprint.version`` (the scheme,
so a change of the computation is not read as every failure being new),
``error.code`` and ``error.severity``; all are made here or come from the catalogue
(16 hex characters, a code and severity), so no redaction is needed. Fingerprints are
unbounded in principle (every new call site is one), so the first
``OTEL_ERRORS_FINGERPRINTS_LIMIT`` distinct ones of a process are kept and later ones
count as ``error.fingerprint="OVERFLOW"`` (code and severity kept, one warning
logged); the release rules alert on that series, as on the errors counter's.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from opentelemetry import metrics, trace

from otel_errors._internal import names
from otel_errors._internal.helpers import locks
from otel_errors._internal.recording.sdk_internals import CounterSeries
from otel_errors._internal.recording.stack import FINGERPRINT_VERSION

if TYPE_CHECKING:
    from opentelemetry.metrics import Counter
    from opentelemetry.util.types import AttributeValue

logger = logging.getLogger("otel_errors")


class FingerprintMetrics:
    """Counts unhandled errors on the ``otel_errors.fingerprints`` counter, bounded.

    Args:
        limit: Distinct fingerprints kept before new ones count as OVERFLOW.
    """

    def __init__(self, limit: int) -> None:
        """Creates the counter lazily (the meter provider may be set later)."""
        self.limit = limit
        self._counter: Counter | None = None
        self._fingerprints: set[str] = set()
        self._lock = locks.lock()
        self._warned = False
        self._known: dict[tuple[str, str, str], CounterSeries] = {}
        """Series by (fingerprint, code, severity): a storm costs one lookup and a direct add."""

    def count(self, span: trace.Span, fingerprint: str, code: str, severity: str) -> None:
        """Adds one unhandled error of ``fingerprint``, in the context of ``span`` (exemplars)."""
        key = (fingerprint, code, severity)
        series = self._known.get(key)
        if series is None:
            # Past the limit every new fingerprint shares its code's OVERFLOW series
            # (never a fingerprint's key: those are 16 hex characters).
            bounded = (self._bounded(fingerprint), code, severity)
            series = self._known.get(bounded)
            if series is None:
                attributes: dict[str, AttributeValue] = {
                    names.ERROR_FINGERPRINT: bounded[0],
                    names.ERROR_FINGERPRINT_VERSION: FINGERPRINT_VERSION,
                    names.ERROR_CODE: code,
                    names.ERROR_SEVERITY: severity,
                }
                series = CounterSeries(self._counter_(), attributes)
            if len(self._known) >= 2 * self.limit + 64:
                self._known = {}
            self._known[key] = self._known[bounded] = series
        series.add(trace.set_span_in_context(span))

    def after_fork(self) -> None:
        """Starts the bound afresh (a forked child's counts start at zero)."""
        self._fingerprints = set()
        self._known = {}
        self._warned = False

    def _bounded(self, fingerprint: str) -> str:
        if fingerprint in self._fingerprints:
            return fingerprint
        with self._lock:
            if len(self._fingerprints) < self.limit:
                self._fingerprints.add(fingerprint)
                return fingerprint
            if not self._warned:
                self._warned = True
                logger.warning(
                    "otel_errors: the fingerprints counter reached %d fingerprints; new ones are "
                    "counted as error.fingerprint=OVERFLOW and cannot be announced as new "
                    "(raise OTEL_ERRORS_FINGERPRINTS_LIMIT)",
                    self.limit,
                )
        return names.OVERFLOW_CODE

    def _counter_(self) -> Counter:
        if self._counter is None:
            self._counter = metrics.get_meter(names.METER_NAME).create_counter(
                names.FINGERPRINTS_METRIC,
                unit="{error}",
                description="Unhandled errors by fingerprint, for new and regressed errors.",
            )
        return self._counter
