"""What became of the telemetry handed to exporters: delivered, dropped, or still pending.

Why: a collector that is down, slow or throttling loses telemetry with at most a
rate-limited log line from the SDK. Every exporter the pipeline builds is wrapped,
under the redaction, by an export gate that counts what the real exporter accepted
and what it refused; the exporting processors count what they were handed and what a
full queue dropped. Each loss is added when it happens to the ``otel_errors.dropped``
counter (attributes ``signal``: spans, log_records or metric_points; ``reason``:
export_failed, queue_full, or shutdown for what was not attempted because the process
was ending), and :func:`undelivered` sums everything up for the one report at exit,
where what was handed but neither delivered nor lost is ``pending`` (still queued or
being exported). Cumulative metric points of a failed export are counted too,
although the next export that succeeds carries their totals again.

A gate is also where delivery stops at exit: :func:`stop_all` closes every gate (a
closed gate passes nothing on, its batches count as not delivered) and shuts its
exporter down, which ends the exporter's retries. :mod:`shutdown` calls it at the
deadline, or earlier once the collector shows it is failing (:func:`ending`).
"""

from __future__ import annotations

import itertools
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk._logs import LogRecordProcessor
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from otel_errors._internal.helpers import locks
from otel_errors._internal.helpers.fail_open import report_internal_failure
from otel_errors._internal.names import DROPPED_METRIC
from otel_errors._internal.recording.runtime import current
from otel_errors._internal.recording.sdk_internals import batch_queue

if TYPE_CHECKING:
    import collections
    from collections.abc import Callable, Sequence

    from opentelemetry.metrics import Counter
    from opentelemetry.sdk._logs import ReadableLogRecord, ReadWriteLogRecord
    from opentelemetry.sdk.metrics.export import MetricsData
    from opentelemetry.sdk.trace import ReadableSpan

SPANS = "spans"
LOG_RECORDS = "log_records"
METRIC_POINTS = "metric_points"
EXPORT_FAILED = "export_failed"
QUEUE_FULL = "queue_full"
SHUTDOWN = "shutdown"


class Gates:
    """The export gates of this run and the exit deadline they obey (a runtime part)."""

    def __init__(self) -> None:
        """No gate yet, no exit in progress."""
        self.gates: weakref.WeakSet[_ExportGate] = weakref.WeakSet()
        self.ends_at: float | None = None
        """Monotonic deadline of the exit in progress: no export starts after it."""

    def after_fork(self) -> None:
        """In a forked child: losses start at zero and exports run normally again."""
        self.ends_at = None
        for gate in list(self.gates):
            gate.tally.forget()


def _gates() -> Gates:
    return current().part(Gates)


class Tally:
    """What one exporting path was handed, delivered and lost, by reason.

    Args:
        signal: ``spans``, ``log_records`` or ``metric_points``.
    """

    def __init__(self, signal: str) -> None:
        """Starts every count at zero."""
        self.signal = signal
        self.queue: collections.deque[Any] | None = None
        self.lost: dict[str, int] = {}
        self.delivered = 0
        self._reads = 0
        self._handed_in_bulk = 0
        self._lock = locks.lock()
        self._count_from_zero()

    def _count_from_zero(self) -> None:
        self._handed_one_by_one = itertools.count()
        self.hand: Callable[[], object] = self._handed_one_by_one.__next__
        """Counts one item handed to the exporting path: per span, so no Python call
        (the counter's ``next``, atomic and cheap)."""

    def hand_many(self, count: int) -> None:
        """Counts ``count`` items handed over at once."""
        with self._lock:
            self._handed_in_bulk += count

    def handed(self) -> int:
        """Items handed over so far."""
        with self._lock:
            # Reading an itertools.count takes one value from it: every read is subtracted.
            self._reads += 1
            return next(self._handed_one_by_one) - self._reads + 1 + self._handed_in_bulk

    def deliver(self, count: int) -> None:
        """Counts ``count`` items the real exporter accepted."""
        with self._lock:
            self.delivered += count

    def lose(self, count: int, reason: str) -> None:
        """Counts ``count`` items lost for ``reason``, here and on ``otel_errors.dropped``."""
        with self._lock:
            self.lost[reason] = self.lost.get(reason, 0) + count
        try:
            _dropped_counter().add(count, {"signal": self.signal, "reason": reason})
        except Exception as failure:
            report_internal_failure("delivery.counter", failure)

    def watch(self, processor: object) -> None:
        """Remembers the batch queue of ``processor``, to count what it drops when full."""
        self.queue = batch_queue(processor)

    def queue_full(self) -> bool:
        """Whether the watched queue is full, so the item handed to it now pushes one out.

        Read just before the SDK reads it: when the export thread takes a batch in
        between, one drop is counted that did not happen.
        """
        queue = self.queue
        return queue is not None and len(queue) >= queue.maxlen  # type: ignore[operator]

    def undelivered(self) -> dict[str, int]:
        """Items not delivered, by reason; ``pending`` is what is queued or being exported."""
        handed = self.handed()
        with self._lock:
            found = dict(self.lost)
            pending = handed - self.delivered - sum(found.values())
        if pending > 0:
            found["pending"] = pending
        return {reason: count for reason, count in found.items() if count}

    def forget(self) -> None:
        """Starts afresh (a forked child: the SDK empties its queues there too)."""
        with self._lock:
            self.lost = {}
            self.delivered = 0
            self._count_from_zero()
            self._reads = 0
            self._handed_in_bulk = 0


def _dropped_counter() -> Counter:
    return current().instruments.counter(
        DROPPED_METRIC,
        unit="{item}",
        description="Telemetry items otel_errors could not deliver, by signal and reason.",
    )


class _ExportGate:
    """Counts and, once closed, stops what goes to one real exporter."""

    def __init__(self, exporter: Any, tally: Tally) -> None:
        self.exporter = exporter
        self.tally = tally
        self._closed = False
        self._stopped = False
        self._lock = locks.lock()
        _gates().gates.add(self)

    def _deliver(self, count: int, export: Callable[[], bool]) -> bool:
        """Runs ``export`` of ``count`` items unless the gate is closed; counts the outcome."""
        ends_at = _gates().ends_at
        if self._closed or (ends_at is not None and time.monotonic() >= ends_at):
            self.tally.lose(count, SHUTDOWN)
            return False
        try:
            delivered = export()
        except Exception:
            self._settle(count, delivered=False)
            raise  # the batch processor logs it, as without us
        self._settle(count, delivered=delivered)
        return delivered

    def _settle(self, count: int, *, delivered: bool) -> None:
        if delivered:
            self.tally.deliver(count)
            return
        self.tally.lose(count, SHUTDOWN if self._closed else EXPORT_FAILED)
        if _gates().ends_at is not None:
            stop_all()

    def stop(self) -> None:
        """Closes the gate and shuts the exporter down (in the background: it may block)."""
        if not self._close():
            return
        try:
            threading.Thread(
                target=self._shut_exporter, name="otel_errors.stop_exporter", daemon=True
            ).start()
        except RuntimeError:  # no new threads during exit (first Python 3.12 releases)
            self._shut_exporter()

    def _close(self) -> bool:
        """Marks the gate closed and stopped; returns whether it was still running."""
        with self._lock:
            running = not self._stopped
            self._closed = self._stopped = True
        return running

    def _shut_exporter(self) -> None:
        try:
            self.exporter.shutdown()
        except Exception as failure:
            report_internal_failure("delivery.shutdown", failure)

    def _shutdown_once(self) -> None:
        with self._lock:
            running = not self._stopped
            self._stopped = True
        if running:
            self._shut_exporter()

    def shutdown(self) -> None:
        """Shuts the real exporter down once (span and log exporters' signature)."""
        self._shutdown_once()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Flushes the real exporter (span and log exporters' signature)."""
        return bool(self.exporter.force_flush(timeout_millis))


class SpanExportGate(_ExportGate, SpanExporter):
    """The gate in front of a real span exporter."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Exports ``spans``; a failure is counted, a closed gate exports nothing."""
        delivered = self._deliver(
            len(spans), lambda: self.exporter.export(spans) is SpanExportResult.SUCCESS
        )
        return SpanExportResult.SUCCESS if delivered else SpanExportResult.FAILURE


class LogExportGate(_ExportGate, LogRecordExporter):
    """The gate in front of a real log record exporter."""

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        """Exports ``batch``; a failure is counted, a closed gate exports nothing."""
        delivered = self._deliver(
            len(batch), lambda: self.exporter.export(batch) is LogRecordExportResult.SUCCESS
        )
        return LogRecordExportResult.SUCCESS if delivered else LogRecordExportResult.FAILURE


class MetricExportGate(_ExportGate, MetricExporter):
    """The gate in front of a real metric exporter (same temporality and aggregation)."""

    def __init__(self, exporter: MetricExporter, tally: Tally) -> None:
        """Wraps ``exporter``, taking over its preferences, which the reader reads from us."""
        _ExportGate.__init__(self, exporter, tally)
        MetricExporter.__init__(
            self,
            preferred_temporality=exporter._preferred_temporality,
            preferred_aggregation=exporter._preferred_aggregation,
        )

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        """Exports one collection; the points of a failed export are counted."""
        points = _points(metrics_data)
        self.tally.hand_many(points)
        delivered = self._deliver(
            points,
            lambda: (
                self.exporter.export(metrics_data, timeout_millis=timeout_millis, **kwargs)
                is MetricExportResult.SUCCESS
            ),
        )
        return MetricExportResult.SUCCESS if delivered else MetricExportResult.FAILURE

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        """Flushes the real exporter."""
        return bool(self.exporter.force_flush(timeout_millis=timeout_millis))

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:  # noqa: ARG002
        """Shuts the real exporter down once."""
        self._shutdown_once()


def _points(data: MetricsData) -> int:
    return sum(
        len(getattr(metric.data, "data_points", ()))
        for resource_metrics in data.resource_metrics
        for scope_metrics in resource_metrics.scope_metrics
        for metric in scope_metrics.metrics
    )


class ExportLogRecordProcessor(LogRecordProcessor):
    """Wraps the exporting log processor to count what its full queue drops.

    Args:
        downstream: The batching processor (usually a ``BatchLogRecordProcessor``).
        tally: Where losses are counted (shared with the gate of its exporter).
    """

    def __init__(self, downstream: LogRecordProcessor, tally: Tally) -> None:
        """Wraps ``downstream`` and watches its queue."""
        self.downstream = downstream
        self.tally = tally
        tally.watch(downstream)

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        """Counts the record (and a drop when the queue is full), then passes it on."""
        self.tally.hand()
        if self.tally.queue_full():
            self.tally.lose(1, QUEUE_FULL)
        self.downstream.on_emit(log_record)

    def shutdown(self) -> None:
        """Shuts the wrapped processor down."""
        self.downstream.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Flushes the wrapped processor."""
        return bool(self.downstream.force_flush(timeout_millis))


def ending(deadline: float) -> None:
    """The process ends by ``deadline`` (monotonic): exports stop at the first failure.

    One failed export then stops every exporter, and no export starts after the deadline.
    """
    _gates().ends_at = deadline


def stop_all() -> None:
    """Closes every gate: nothing more is attempted, and the exporters stop retrying."""
    for gate in list(_gates().gates):
        gate.stop()


def undelivered() -> dict[str, dict[str, int]]:
    """Items not delivered so far, by signal and reason."""
    found: dict[str, dict[str, int]] = {}
    for gate in list(_gates().gates):
        reasons = found.setdefault(gate.tally.signal, {})
        for reason, count in gate.tally.undelivered().items():
            reasons[reason] = reasons.get(reason, 0) + count
    return {signal: reasons for signal, reasons in found.items() if reasons}
