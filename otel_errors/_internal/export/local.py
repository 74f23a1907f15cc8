"""The embedded default: spans, logs and metrics as JSON lines in a local directory.

With no collector anywhere, errors must still be visible: these exporters (entry
point name ``otel_errors_local``) append one compact JSON object per span, log record
or metric point to ``spans.jsonl``, ``logs.jsonl`` and ``metrics.jsonl``, which
``otel-errors report`` reads. Why not the SDK's console exporters: they print
indented JSON to stdout, mixed with the application's output and not line-parsable.

Where the files go, with which permissions, and how a torn last line is handled is
``local_files``'. The directory is printed once at start-up, on stderr: with no
collector configured, that is where the errors are.
"""

from __future__ import annotations

import os
import sys
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import format_span_id, format_trace_id

from otel_errors._internal.export.local_files import JsonLinesFile, choose_directory
from otel_errors._internal.helpers.fail_open import report_internal_failure

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from pathlib import Path

    from opentelemetry.sdk._logs import ReadableLogRecord
    from opentelemetry.sdk.metrics.export import MetricsData
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import ReadableSpan

SPANS_FILE = "spans.jsonl"
LOGS_FILE = "logs.jsonl"
METRICS_FILE = "metrics.jsonl"


def iso_time(ns: int | None) -> str | None:
    """RFC 3339 UTC timestamp with microseconds, or None."""
    if ns is None:
        return None
    stamp = datetime.fromtimestamp(ns / 1e9, tz=timezone.utc)
    return stamp.isoformat(timespec="microseconds").replace("+00:00", "Z")


def _plain(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    """A JSON-ready copy: tuples as lists.

    ``BoundedAttributes.copy()`` reads without the mapping's lock, which iterating
    takes in SDK 1.40 (1.45 skips it for immutable mappings). A resource's attributes
    are shared by every span, so a thread iterating them when the process forks would
    leave the child's first export waiting on that lock forever.
    """
    if not attributes:
        return {}
    found = attributes.copy() if isinstance(attributes, BoundedAttributes) else attributes
    return {k: list(v) if isinstance(v, tuple) else v for k, v in found.items()}


_announced = False


def _local_settings(
    directory: str | os.PathLike[str] | None, max_bytes: int | None
) -> tuple[Path, int]:
    from otel_errors._internal.recording.runtime import current

    settings = current().settings
    chosen = choose_directory(os.fspath(directory) if directory is not None else settings.local_dir)
    _announce(chosen)
    return chosen, max_bytes if max_bytes is not None else settings.local_max_bytes


def _announce(directory: Path) -> None:
    """Says once per process where the local files go (no collector is configured)."""
    global _announced  # noqa: PLW0603 - once per process
    if not _announced:
        _announced = True
        print(  # noqa: T201 - one start-up line for the operator, before logging is set up
            f"otel_errors: no collector configured; spans, logs and metrics are written to "
            f"{directory} (files 0600, directory 0700); read them with `otel-errors report`",
            file=sys.stderr,
        )


def _resource(resource: Resource | None) -> dict[str, Any]:
    return _plain(resource.attributes) if resource is not None else {}


class LocalSpanExporter(SpanExporter):
    """Writes finished spans to ``<dir>/spans.jsonl``.

    Args:
        directory: Target directory (``OTEL_ERRORS_LOCAL_DIR`` when omitted).
        max_bytes: Rotation size (``OTEL_ERRORS_LOCAL_MAX_BYTES`` when omitted).
    """

    def __init__(
        self, directory: str | os.PathLike[str] | None = None, max_bytes: int | None = None
    ) -> None:
        """Creates the exporter (no file is touched until the first export)."""
        path, limit = _local_settings(directory, max_bytes)
        self.file = JsonLinesFile(path / SPANS_FILE, limit)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Appends ``spans``; a failure is counted, never raised."""
        try:
            self.file.append(span_record(s) for s in spans)
        except Exception as failure:
            report_internal_failure("local_export.spans", failure)
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        """Nothing to release: each export opens and closes the file."""

    def force_flush(self, timeout_millis: int = 30000) -> bool:  # noqa: ARG002 - SDK signature
        """Writes are synchronous; nothing is pending."""
        return True


def span_record(span: ReadableSpan) -> dict[str, Any]:
    """One span as the JSON object written to ``spans.jsonl``."""
    context = span.get_span_context()
    parent = span.parent
    start, end = span.start_time, span.end_time
    return {
        "trace_id": format_trace_id(context.trace_id) if context else None,
        "span_id": format_span_id(context.span_id) if context else None,
        "parent_span_id": format_span_id(parent.span_id) if parent else None,
        "name": span.name,
        "kind": span.kind.name,
        "start_time": iso_time(start),
        "end_time": iso_time(end),
        "duration_ms": round((end - start) / 1e6, 3) if start and end else None,
        "status": {"code": span.status.status_code.name, "description": span.status.description},
        "attributes": _plain(span.attributes),
        "events": [
            {"name": e.name, "time": iso_time(e.timestamp), "attributes": _plain(e.attributes)}
            for e in span.events
        ],
        "links": [
            {
                "trace_id": format_trace_id(link.context.trace_id),
                "span_id": format_span_id(link.context.span_id),
            }
            for link in span.links
        ],
        "scope": span.instrumentation_scope.name if span.instrumentation_scope else None,
        "resource": _resource(span.resource),
    }


class LocalLogExporter(LogRecordExporter):
    """Writes log records to ``<dir>/logs.jsonl`` (same arguments as LocalSpanExporter)."""

    def __init__(
        self, directory: str | os.PathLike[str] | None = None, max_bytes: int | None = None
    ) -> None:
        """Creates the exporter (no file is touched until the first export)."""
        path, limit = _local_settings(directory, max_bytes)
        self.file = JsonLinesFile(path / LOGS_FILE, limit)

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        """Appends ``batch``; a failure is counted, never raised."""
        try:
            self.file.append(log_record(r) for r in batch)
        except Exception as failure:
            report_internal_failure("local_export.logs", failure)
            return LogRecordExportResult.FAILURE
        return LogRecordExportResult.SUCCESS

    def shutdown(self) -> None:
        """Nothing to release."""

    def force_flush(self, timeout_millis: int = 30000) -> bool:  # noqa: ARG002 - SDK signature
        """Writes are synchronous; nothing is pending."""
        return True


def log_record(readable: ReadableLogRecord) -> dict[str, Any]:
    """One log record as the JSON object written to ``logs.jsonl``."""
    record = readable.log_record
    severity = record.severity_number
    return {
        "timestamp": iso_time(record.timestamp or record.observed_timestamp),
        "severity": record.severity_text or (severity.name if severity else None),
        "severity_number": severity.value if severity else None,
        "event_name": record.event_name or None,
        "body": record.body,
        "trace_id": format_trace_id(record.trace_id) if record.trace_id else None,
        "span_id": format_span_id(record.span_id) if record.span_id else None,
        "attributes": _plain(record.attributes),
        "scope": readable.instrumentation_scope.name if readable.instrumentation_scope else None,
        "resource": _resource(readable.resource),
    }


class LocalMetricExporter(MetricExporter):
    """Writes every metric point of each collection to ``<dir>/metrics.jsonl``."""

    def __init__(
        self, directory: str | os.PathLike[str] | None = None, max_bytes: int | None = None
    ) -> None:
        """Creates the exporter (cumulative temporality, the SDK's default aggregation)."""
        super().__init__()
        path, limit = _local_settings(directory, max_bytes)
        self.file = JsonLinesFile(path / METRICS_FILE, limit)

    def export(
        self,
        metrics_data: MetricsData,
        timeout_millis: float = 10_000,  # noqa: ARG002 - SDK signature; writes are local
        **kwargs: Any,  # noqa: ARG002 - SDK signature
    ) -> MetricExportResult:
        """Appends one line per data point; a failure is counted, never raised."""
        try:
            self.file.append(metric_records(metrics_data))
        except Exception as failure:
            report_internal_failure("local_export.metrics", failure)
            return MetricExportResult.FAILURE
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:  # noqa: ARG002 - SDK signature
        """Writes are synchronous; nothing is pending."""
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        """Nothing to release."""


def metric_records(data: MetricsData) -> Iterable[dict[str, Any]]:
    """One JSON object per data point: name, attributes, value or histogram summary."""
    for resource_metrics in data.resource_metrics:
        resource = _resource(resource_metrics.resource)
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                for point in getattr(metric.data, "data_points", ()):
                    record: dict[str, Any] = {
                        "name": metric.name,
                        "unit": metric.unit,
                        "scope": scope_metrics.scope.name,
                        "time": iso_time(point.time_unix_nano),
                        "attributes": _plain(point.attributes),
                        "resource": resource,
                    }
                    if hasattr(point, "value"):
                        record["value"] = point.value
                    else:
                        record["count"] = getattr(point, "count", None)
                        record["sum"] = getattr(point, "sum", None)
                    exemplars = getattr(point, "exemplars", None) or ()
                    if exemplars:
                        record["exemplar_trace_ids"] = [
                            format_trace_id(e.trace_id) for e in exemplars if e.trace_id
                        ]
                    yield record
