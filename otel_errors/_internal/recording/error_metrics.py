"""The ``errors`` counter: every recorded exception, by code, severity and endpoint.

Fed by the recorder, so it counts whatever recorded the exception (the SDK's own
context managers, contrib instrumentations, our API) exactly as often as exception
events exist: once per exception object per trace.

The endpoint attribute is the first one found of ``http.route``, ``rpc.method``
and ``messaging.destination.name`` on the local root span (the request the error
happened in, so that errors and request counts share the same label), then of
those and ``db.operation.name``/``code.function.name`` on the recording span itself.

Cardinality is bounded here, before the SDK's own per-stream limit, because a
limit hit there silently merges everything: past ``OTEL_ERRORS_METRICS_CARDINALITY_LIMIT``
distinct attribute sets, new ones are counted as ``error.code="OVERFLOW"`` (with the
severity kept, so paging rules still see them) and one warning is logged. Exemplars
come from the SDK (``OTEL_METRICS_EXEMPLAR_FILTER``, default ``trace_based``): each
measurement is made in the context of the recording span.

The attributes of a count are computed (redacted, bounded) once per combination of
code, severity, category, type, handled and endpoint, then reused: an error storm
adds to one series at the cost of a dictionary lookup, and the add goes straight to
the series' aggregations (``sdk_internals.CounterSeries``). The memory follows the
redactor in use and is bounded like the series.

A failure that began in another service (``recording.upstream``) also carries
``error.origin.service``; absent, the failure began here. The value comes from a peer,
so it has its own bound: the first :data:`MAX_ORIGIN_SERVICES` distinct services are
kept, later ones count as ``other``, so that a peer inventing names can neither grow
the series nor push this service's own errors into OVERFLOW.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from opentelemetry import metrics, trace

from otel_errors._internal import names
from otel_errors._internal.helpers import locks
from otel_errors._internal.recording.sdk_internals import CounterSeries

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from opentelemetry.metrics import Counter
    from opentelemetry.util.types import AttributeValue

    from otel_errors._internal.model.catalog import ErrorCode
    from otel_errors._internal.recording.local_roots import LocalRoots
    from otel_errors._internal.scrubbing import Redactor

logger = logging.getLogger("otel_errors")

ERRORS_METRIC = "errors"
REQUEST_SCOPED_ENDPOINTS = ("http.route", "rpc.method", "messaging.destination.name")
OPERATION_ENDPOINTS = (
    *REQUEST_SCOPED_ENDPOINTS,
    "db.operation.name",
    "code.function.name",
    "code.function",
)


MAX_ORIGIN_SERVICES = 64
"""Distinct ``error.origin.service`` values the counter keeps; later ones count as ``other``."""
OTHER_ORIGIN = "other"


class ErrorMetrics:
    """Counts recorded exceptions on the ``errors`` counter of meter ``otel_errors``.

    Args:
        cardinality_limit: Distinct attribute sets kept before folding into OVERFLOW.
        local_roots: Where the request of a span is found (its endpoint).
        redactor: The redactor in use (asked at each count: setup may replace it).
    """

    def __init__(
        self,
        cardinality_limit: int,
        local_roots: LocalRoots,
        redactor: Callable[[], Redactor],
    ) -> None:
        """Creates the counter lazily (the meter provider may be set later)."""
        self.cardinality_limit = cardinality_limit
        self.local_roots = local_roots
        self.redactor = redactor
        self._counter: Counter | None = None
        self._series: set[frozenset[tuple[str, AttributeValue]]] = set()
        self._origins: set[str] = set()
        self._lock = locks.lock()
        self._warned = False
        self._known: dict[tuple[object, ...], CounterSeries] = {}
        """Series (final attributes) by what they are made of (see the module docstring)."""
        self._known_redactor: Redactor | None = None

    def count(
        self,
        span: trace.Span,
        entry: ErrorCode,
        exception_type: str,
        *,
        handled: bool,
        origin: str | None = None,
    ) -> None:
        """Adds one error, in the context of ``span`` (for exemplars).

        ``origin`` is the service where a failure across services began, if elsewhere.
        """
        endpoint = endpoint_of(span, self.local_roots)
        origin = self._bounded_origin(origin) if origin is not None else None
        redactor = self.redactor()
        if redactor is not self._known_redactor:
            self._known = {}
            self._known_redactor = redactor
        key = (
            entry.code,
            entry.severity,
            entry.category,
            exception_type,
            handled,
            endpoint,
            origin,
        )
        context = trace.set_span_in_context(span)
        try:
            series = self._known.get(key)
        except TypeError:  # an unhashable endpoint value (a list): computed every time
            attributes = self._attributes(
                entry, exception_type, endpoint, origin, redactor, handled=handled
            )
            self._counter_().add(1, attributes, context=context)
            return
        if series is None:
            attributes = self._attributes(
                entry, exception_type, endpoint, origin, redactor, handled=handled
            )
            series = CounterSeries(self._counter_(), attributes)
            if len(self._known) >= 2 * self.cardinality_limit + 64:
                self._known = {}
            self._known[key] = series
        series.add(context)

    def _attributes(
        self,
        entry: ErrorCode,
        exception_type: str,
        endpoint: tuple[str, AttributeValue] | None,
        origin: str | None,
        redactor: Redactor,
        *,
        handled: bool,
    ) -> dict[str, AttributeValue]:
        """The attributes of a count, redacted and bounded (never changed afterwards)."""
        attributes: dict[str, AttributeValue] = {
            names.ERROR_CODE: entry.code,
            names.ERROR_SEVERITY: entry.severity.value,
            names.ERROR_CATEGORY: entry.category.value,
            names.EXCEPTION_TYPE: exception_type,
            names.ERROR_HANDLED: handled,
        }
        if endpoint is not None:
            attributes[endpoint[0]] = endpoint[1]
        if origin is not None:
            attributes[names.ERROR_ORIGIN_SERVICE] = origin
        redacted, _ = redactor.redact_attributes(attributes)
        return self._bounded(dict(redacted or {}))

    def after_fork(self) -> None:
        """Starts the cardinality bound afresh (a forked child's counts start at zero)."""
        self._series = set()
        self._origins = set()
        self._warned = False
        self._known = {}

    def _bounded_origin(self, origin: str) -> str:
        if origin in self._origins:
            return origin
        with self._lock:
            if len(self._origins) < MAX_ORIGIN_SERVICES:
                self._origins.add(origin)
                return origin
        return OTHER_ORIGIN

    def _counter_(self) -> Counter:
        if self._counter is None:
            self._counter = metrics.get_meter(names.METER_NAME).create_counter(
                ERRORS_METRIC,
                unit="{error}",
                description="Recorded exceptions, by error code, severity and endpoint.",
            )
        return self._counter

    def _bounded(self, attributes: dict[str, AttributeValue]) -> dict[str, AttributeValue]:
        key = frozenset(attributes.items())
        if key in self._series:
            return attributes
        with self._lock:
            if len(self._series) < self.cardinality_limit:
                self._series.add(key)
                return attributes
            if not self._warned:
                self._warned = True
                logger.warning(
                    "otel_errors: the errors counter reached %d attribute sets; new ones are "
                    "counted as error.code=OVERFLOW (raise OTEL_ERRORS_METRICS_CARDINALITY_LIMIT "
                    "or look for an unbounded endpoint attribute)",
                    self.cardinality_limit,
                )
        return {
            names.ERROR_CODE: names.OVERFLOW_CODE,
            names.ERROR_SEVERITY: attributes[names.ERROR_SEVERITY],
        }


def endpoint_of(span: trace.Span, local_roots: LocalRoots) -> tuple[str, AttributeValue] | None:
    """The endpoint attribute for an error recorded on ``span``, if any is known."""
    root = local_roots.local_root(span)
    if root is not span:
        found = _first(_attributes(root), REQUEST_SCOPED_ENDPOINTS)
        if found is not None:
            return found
    return _first(_attributes(span), OPERATION_ENDPOINTS)


def _attributes(span: object) -> Mapping[str, AttributeValue]:
    attributes = getattr(span, "attributes", None)
    return attributes if attributes is not None else {}


def _first(
    attributes: Mapping[str, AttributeValue], keys: tuple[str, ...]
) -> tuple[str, AttributeValue] | None:
    """The first of ``keys`` (in their order) that ``attributes`` holds a value for.

    One pass over the attributes: a span's attribute mapping answers a missing key by
    raising inside, which costs more than reading its few keys.
    """
    if not attributes:
        return None
    found: tuple[str, AttributeValue] | None = None
    rank = len(keys)
    for key in attributes:
        if key in keys and keys.index(key) < rank:
            value = attributes.get(key)
            if value is not None:
                found, rank = (key, value), keys.index(key)
    return found
