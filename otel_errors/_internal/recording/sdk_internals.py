"""The SDK internals otel_errors reads or resets, all here, behind one version check.

DESIGN.md allows touching SDK internals only where no extension point can do the
job. These are the places, each for a reason the SDK offers no public way to serve:

- After a fork, the child's metric storage is rebuilt (``reset_metrics_after_fork``):
  the SDK gives a forked child its parent's aggregations (cumulative counts, and the
  locks of aggregations and exemplar reservoirs, possibly held by a parent thread).
  The SDK 1.45 fork handler resets only the provider's own locks.
- The queue of a batch processor is read (``batch_queue``) to count what it drops
  when full: the SDK only logs a rate-limited warning.
- The metric exporters of the periodic readers we built are wrapped
  (``wrap_metric_exporters``): ``_initialize_components`` has hooks for span and
  log exporters, none for metric exporters, and a failed metric export must be
  counted and stoppable at the shutdown deadline like the others.
- A finished span's attributes, events and links are read as it holds them
  (``span_parts``): its public properties build a new mapping or tuple at each read,
  which costs every exported span and hides whether the redaction changed anything.
  The plain dictionary inside the SDK's ``BoundedAttributes`` is read the same way
  (``held_dict``): reading the mapping itself costs a Python call per key. What the
  exporting processor and the export redaction read of every span is read in one
  call (``ended_state``, ``finished_fields``; a redacted copy is built from the fields
  too, ``rebuilt_span``), the status description and sampled
  flag from the fields of the API's ``Status`` and ``SpanContext``, an empty event or
  link list as ``()`` (its own truth test is a Python call): each property is a
  Python call, and in a real client call, between socket reads, each costs several
  times what it does in a tight loop (cold caches), which made them most of what a
  success cost us.
- A processor whose ``on_start`` is the SDK's no-op is not called at each start
  (``starts_nothing``).
- The tracer and logger providers' resource is replaced by an equal one that hashes
  once (``hash_resources_once``): the OTLP encoders group what they export by
  resource, hashing the resource of every span and log record, and the SDK's hash
  serialises all its attributes to JSON each time (as much CPU as encoding the rest
  of a successful span). The providers take no resource after they are built.
- An exception event whose attributes we built and bounded is added as the SDK would
  add it, without the SDK checking and copying each value again (``add_bounded_event``):
  the values are plain strings, booleans and numbers under no SDK length limit.
- Our counters add to a series whose attributes we made once (``CounterSeries``)
  straight into its aggregations: ``Counter.add`` cleans, copies and hashes the
  attributes at every call to find the series (about two thirds of its cost), and the
  Python SDK has no bound instruments to skip that.

Outside :data:`SUPPORTED_SDK` none of this runs: forked
children then keep the SDK's own behaviour, and queue drops go uncounted.
"""

from __future__ import annotations

import collections
import threading
from time import time_ns
from typing import TYPE_CHECKING, Any

from opentelemetry import _logs, metrics
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.metrics import Counter, MeterProvider
from opentelemetry.sdk.metrics.export import MetricExporter, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace import Span as SdkSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.util import BoundedList
from opentelemetry.sdk.version import __version__ as sdk_version
from opentelemetry.trace import SpanContext, Status, TraceFlags

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from opentelemetry.context import Context
    from opentelemetry.metrics import Counter as ApiCounter
    from opentelemetry.trace import Link, SpanKind
    from opentelemetry.util.types import AttributeValue

SUPPORTED_SDK = ((1, 40), (2, 0))
"""``[lowest, highest)`` SDK ``(major, minor)`` whose internals we know (tested: 1.40, 1.45)."""


def sdk_version_supported(version: str = sdk_version) -> bool:
    """Whether ``version`` of opentelemetry-sdk is in :data:`SUPPORTED_SDK`."""
    try:
        major, minor = (int(part) for part in version.split(".")[:2])
    except ValueError:
        return False
    low, high = SUPPORTED_SDK
    return low <= (major, minor) < high


_READ_SPAN_FIELDS = sdk_version_supported()
_SAMPLED = TraceFlags.SAMPLED


def span_parts(
    span: ReadableSpan,
) -> tuple[Mapping[str, Any] | None, Sequence[Event], Sequence[Link]]:
    """The attributes, events and links of a finished span, as the span holds them.

    No copies: the same objects at every call (``None`` for no attributes), so a
    caller can tell by identity whether it changed them. Outside the supported SDK
    range, or for another span class, the public properties.
    """
    if _READ_SPAN_FIELDS and type(span) is ReadableSpan:
        fields: Any = span
        return fields._attributes, fields._events, fields._links
    return span.attributes, span.events, span.links


def held_dict(
    attributes: Mapping[str, Any] | None, *, finished: bool = False
) -> Mapping[str, Any] | None:
    """The dictionary a ``BoundedAttributes`` holds (to read only), else ``attributes``.

    Only where nothing can change it while it is read: an immutable one (event, link
    and resource attributes), or a ``finished`` span's (the SDK refuses changes after
    the span ended).
    """
    if _READ_SPAN_FIELDS and type(attributes) is BoundedAttributes:
        inner: Any = attributes
        held = getattr(inner, "_dict", None)
        if type(held) is dict and (finished or getattr(inner, "_immutable", False) is True):
            return held
    return attributes


def ended_state(span: ReadableSpan) -> tuple[SpanKind, SpanContext | None, str | None, bool]:
    """The kind, context, status description and sampled flag of an ended span, in one call.

    The description and the flag are read without their properties (``Status`` and
    ``SpanContext``, a tuple whose fourth item is the ``TraceFlags`` integer, are the
    API's): each property is a Python call on every span.
    """
    if _READ_SPAN_FIELDS and type(span) is ReadableSpan:
        fields: Any = span
        context, status = fields._context, fields._status
        if type(status) is Status and type(context) is SpanContext:
            held: Any = status
            return fields._kind, context, held._description, bool(context[3] & _SAMPLED)
    context = span.context
    sampled = bool(context and context.trace_flags.sampled)
    return span.kind, context, span.status.description, sampled


def finished_fields(
    span: ReadableSpan,
) -> tuple[
    str,
    Status,
    str | None,
    Resource,
    Mapping[str, Any] | None,
    Mapping[str, Any] | None,
    Sequence[Event],
    Sequence[Link],
]:
    """What the export redaction reads of a finished span, in one call.

    Returns:
        The name, the status and its description, the resource, the attributes as
        held (see :func:`span_parts`), their plain dictionary to read (see
        :func:`held_dict`), the events and links: as held, or ``()`` for an empty
        ``BoundedList`` that dropped nothing (the same to every reader and exporter;
        its own truth test is a Python call).
    """
    if _READ_SPAN_FIELDS and type(span) is ReadableSpan:
        fields: Any = span
        attributes = fields._attributes
        held = attributes
        if type(attributes) is BoundedAttributes:
            inner = getattr(attributes, "_dict", None)
            if type(inner) is dict:
                held = inner
        status: Any = fields._status
        events, links = fields._events, fields._links
        # Inline, not a helper: a call per field is what this function saves.
        if type(events) is BoundedList and not events._dq and not events.dropped:  # type: ignore[attr-defined]
            events = ()
        if type(links) is BoundedList and not links._dq and not links.dropped:  # type: ignore[attr-defined]
            links = ()
        return (
            fields._name,
            status,
            status._description if type(status) is Status else status.description,
            fields._resource,
            attributes,
            held,
            events,
            links,
        )
    attributes = span.attributes
    status = span.status
    return (
        span.name,
        status,
        status.description,
        span.resource,
        attributes,
        held_dict(attributes, finished=True),
        span.events,
        span.links,
    )


def rebuilt_span(
    span: ReadableSpan,
    *,
    name: str,
    resource: Resource,
    attributes: Mapping[str, Any] | None,
    events: Sequence[Event],
    links: Sequence[Link],
    status: Status,
) -> ReadableSpan:
    """A copy of the finished ``span`` with these parts; its other fields read as held."""
    if _READ_SPAN_FIELDS and type(span) is ReadableSpan:
        fields: Any = span
        context, parent, kind = fields._context, fields._parent, fields._kind
        start, end, scope = fields._start_time, fields._end_time, fields._instrumentation_scope
    else:
        context, parent, kind = span.context, span.parent, span.kind
        start, end, scope = span.start_time, span.end_time, span.instrumentation_scope
    return ReadableSpan(
        name=name,
        context=context,
        parent=parent,
        resource=resource,
        attributes=attributes,
        events=events,
        links=links,
        kind=kind,
        status=status,
        start_time=start,
        end_time=end,
        instrumentation_scope=scope,
    )


_NO_OP_STARTS = (SpanProcessor.on_start, BatchSpanProcessor.on_start, SimpleSpanProcessor.on_start)
"""``on_start`` of the SDK's exporting processors: ``pass`` from 1.40 to 1.45."""


def starts_nothing(processor: SpanProcessor) -> bool:
    """Whether ``processor.on_start`` is known to do nothing (so it need not be called)."""
    return _READ_SPAN_FIELDS and type(processor).on_start in _NO_OP_STARTS


_PLAIN_VALUES = frozenset((str, bool, int, float))
"""Value classes the SDK keeps as they are when no length limit applies."""


def add_bounded_event(
    span: object, name: str, attributes: dict[str, Any], timestamp: int | None
) -> bool:
    """Adds an event as ``Span.add_event`` would, handing over ``attributes`` unchecked.

    Only where the SDK's check would change nothing: an SDK span (with its own
    ``add_event``), no attribute value length limit, no more attributes than the event
    limit, non-empty string keys and plain values. ``attributes`` then belongs to the
    event (the caller keeps no reference to change it).

    Returns:
        Whether the event was added; if not, the caller adds it with ``add_event``.
    """
    if not (_READ_SPAN_FIELDS and isinstance(span, SdkSpan)) or (
        type(span).add_event is not SdkSpan.add_event
    ):
        return False
    held: Any = span
    limits = held._limits
    most = limits.max_event_attributes
    if limits.max_attribute_length is not None or (most is not None and len(attributes) > most):
        return False
    for key, value in attributes.items():
        if not (key and key.__class__ is str and value.__class__ in _PLAIN_VALUES):
            return False
    bounded: Any = BoundedAttributes(most, None, immutable=True)
    bounded._dict = attributes
    held._add_event(Event(name, bounded, timestamp))
    return True


def reset_metrics_after_fork() -> None:
    """In a forked child: fresh metric storage (own counts, free locks) for the global provider.

    Instruments keep working: they hold the measurement consumer, whose storages are
    replaced (the SDK itself replaces, never mutates, that mapping). The periodic
    readers' export locks are renewed too, since the parent may have been exporting.
    """
    provider = metrics.get_meter_provider()
    if not (sdk_version_supported() and isinstance(provider, MeterProvider)):
        return
    consumer: Any = provider._measurement_consumer
    consumer._reader_storages = {
        reader: type(storage)(
            storage._sdk_config,
            storage._instrument_class_temporality,
            storage._instrument_class_aggregation,
        )
        for reader, storage in consumer._reader_storages.items()
    }
    consumer._lock = threading.Lock()
    # What SDK 1.45's own fork handler does, for the older releases that lack it.
    provider._lock = threading.Lock()
    provider._meter_lock = threading.Lock()
    for reader in consumer._reader_storages:
        if isinstance(reader, PeriodicExportingMetricReader):
            reader._export_lock = threading.Lock()
    logger_provider = _logs.get_logger_provider()
    if isinstance(logger_provider, LoggerProvider):
        logger_provider._logger_cache_lock = threading.Lock()


def batch_queue(processor: object) -> collections.deque[Any] | None:
    """The bounded queue of a ``BatchSpanProcessor``/``BatchLogRecordProcessor``, if known."""
    if not sdk_version_supported():
        return None
    queue = getattr(getattr(processor, "_batch_processor", None), "_queue", None)
    if isinstance(queue, collections.deque) and queue.maxlen is not None:
        return queue
    return None


def wrap_metric_exporters(
    provider: object, wrap: Callable[[MetricExporter], MetricExporter]
) -> int:
    """Replaces the exporter of each periodic reader of ``provider`` by ``wrap(exporter)``.

    Returns:
        How many exporters were wrapped (0 outside the supported SDK range).
    """
    if not (sdk_version_supported() and isinstance(provider, MeterProvider)):
        return 0
    wrapped = 0
    for reader in provider._measurement_consumer._reader_storages:
        exporter = getattr(reader, "_exporter", None)
        if isinstance(reader, PeriodicExportingMetricReader) and isinstance(
            exporter, MetricExporter
        ):
            reader._exporter = wrap(exporter)
            wrapped += 1
    return wrapped


class HashOnceResource(Resource):
    """A ``Resource`` whose hash is computed once: equal to, and hashing as, the SDK's.

    A resource never changes (its attributes are immutable), so neither does its hash.
    What it merges into (the SDK merges the process's attributes in a forked child)
    hashes once too.
    """

    def __init__(self, attributes: Mapping[str, Any], schema_url: str | None = None) -> None:
        """As ``Resource``; the hash is computed here."""
        super().__init__(attributes, schema_url)
        self._hash = super().__hash__()

    @classmethod
    def of(cls, resource: Resource) -> HashOnceResource:
        """``resource`` itself if it hashes once already, else an equal copy that does."""
        if isinstance(resource, cls):
            return resource
        return cls(dict(resource.attributes), resource.schema_url)

    def __hash__(self) -> int:
        """The hash ``Resource`` gives, computed at creation."""
        return self._hash

    def merge(self, other: Resource) -> Resource:
        """As ``Resource.merge``, hashing once."""
        return HashOnceResource.of(super().merge(other))


def hash_resources_once(*providers: object) -> int:
    """Gives each SDK tracer or logger provider an equal resource that hashes once.

    Returns:
        How many providers got one (0 outside the supported SDK range).
    """
    if not sdk_version_supported():
        return 0
    replaced = 0
    for provider in providers:
        if isinstance(provider, (TracerProvider, LoggerProvider)):
            held: Any = provider
            resource = getattr(held, "_resource", None)
            if type(resource) is Resource:
                held._resource = HashOnceResource.of(resource)
                replaced += 1
    return replaced


def _frozen_key(attributes: Mapping[str, Any]) -> object:
    """The series key of SDK releases before ``_hash_attributes`` (1.40 among them)."""
    return frozenset(attributes.items())


_SERIES_KEY: Callable[[Mapping[str, Any]], object] = _frozen_key
"""How the SDK keys a series by its attributes (after a view's attribute filter)."""
try:
    from opentelemetry.sdk.metrics._internal import _view_instrument_match
    from opentelemetry.sdk.metrics._internal.measurement import Measurement
except ImportError:  # another layout of the SDK's metrics: our counters keep Counter.add
    _SERIES_KNOWN = False
else:
    _SERIES_KNOWN = _READ_SPAN_FIELDS
    _SERIES_KEY = getattr(_view_instrument_match, "_hash_attributes", _frozen_key)


class CounterSeries:
    """One attribute set of a counter, added to as ``Counter.add`` adds, without its re-checks.

    The first two adds (and the first two after a reader was added or the storage was
    rebuilt after a fork) are ``Counter.add``: the first creates the series'
    aggregations, one per reader and view, and the second finds them by the SDK's own
    key and keeps them (a series added to once, a failure at a new place, pays nothing
    for this). Later adds build the measurement as ``Counter.add`` would
    (``attributes`` are plain strings and booleans, made once and never changed, so
    the SDK's cleaning would copy them unchanged), ask the SDK's exemplar filter, and
    aggregate: counts and exemplars are the SDK's. Any other counter (not the SDK's,
    outside :data:`SUPPORTED_SDK`, another layout of the SDK's metrics), a disabled
    meter or a series not found as expected takes ``Counter.add``.

    Args:
        counter: The counter.
        attributes: The series' attributes (the caller never changes them).
    """

    __slots__ = (
        "_added_in",
        "_aggregations",
        "_consumer",
        "_enabled",
        "_storages",
        "attributes",
        "counter",
    )

    def __init__(self, counter: ApiCounter, attributes: dict[str, AttributeValue]) -> None:
        """Binds nothing yet: the second :meth:`add` does."""
        self.counter = counter
        self.attributes = attributes
        held: Any = counter
        known = _SERIES_KNOWN and isinstance(counter, Counter)
        self._consumer: Any = (
            held._measurement_consumer if known and type(counter).add is Counter.add else None
        )
        # SDK releases with meter configuration ask the meter at each add; older: enabled.
        self._enabled: Callable[[], bool] = getattr(counter, "_is_enabled", _always)
        self._added_in: object = None
        """The storages ``Counter.add`` made the series in (the next plain add binds)."""
        self._storages: object = None
        """The storages the kept aggregations belong to."""
        self._aggregations: tuple[Any, ...] = ()

    def add(self, context: Context) -> None:
        """Adds one, in ``context`` (its span is the exemplar's)."""
        consumer = self._consumer
        if (
            consumer is None
            or consumer._reader_storages is not self._storages
            or not self._enabled()
        ):
            self.counter.add(1, self.attributes, context=context)
            if consumer is not None:
                storages = consumer._reader_storages
                if self._added_in is storages:
                    self._bind(storages)
                self._added_in = storages
            return
        now = time_ns()
        measurement = Measurement.__new__(Measurement)
        measurement.__dict__.update(
            value=1,
            time_unix_nano=now,
            instrument=self.counter,
            context=context,
            attributes=self.attributes,
        )
        sample = consumer._sdk_config.exemplar_filter.should_sample(
            1, now, self.attributes, context
        )
        for aggregation in self._aggregations:
            aggregation.aggregate(measurement, sample)

    def _bind(self, storages: Any) -> None:
        """Finds the series' aggregations; on any surprise, ``Counter.add`` for good."""
        found: list[Any] = []
        try:
            for storage in storages.values():
                for match in storage._instrument_view_instrument_matches.get(self.counter, ()):
                    keys = match._view._attribute_keys
                    attributes = self.attributes
                    if keys is not None:
                        attributes = {k: v for k, v in attributes.items() if k in keys}
                    aggregation = match._attributes_aggregation.get(_SERIES_KEY(attributes))
                    if aggregation is None:
                        self._consumer = None
                        return
                    found.append(aggregation)
        except (AttributeError, TypeError):
            self._consumer = None
            return
        self._aggregations = tuple(found)
        self._storages = storages


def _always() -> bool:
    return True
