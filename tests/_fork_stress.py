"""Forks N children while threads record errors and batch threads export; prints a summary.

Four threads record failing server requests (the errors counter with exemplars, the
error.type memory, the open server spans, the stack cache) while a batch span
processor and a periodic metric reader write the local files every few
milliseconds. Each child records one error of its own, flushes both pipelines and
exits with the count of its own errors as its status. The last line printed is JSON:
``{"hung": ..., "counts": {status: children}, "parent_errors": ...}``.

    python tests/_fork_stress.py DIR FORKS [BOUND_SECONDS]

Only APIs that older checkouts have too are used, so the same script measures them.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter

from _forking import start_child, wait_child
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind

from otel_errors._internal.export.local import LocalMetricExporter, LocalSpanExporter
from otel_errors._internal.pipeline import sdk_patch
from otel_errors._internal.pipeline.span_export import ExportSpanProcessor

directory, forks = sys.argv[1], int(sys.argv[2])
bound = float(sys.argv[3]) if len(sys.argv) > 3 else 30.0

reader = InMemoryMetricReader()
periodic = PeriodicExportingMetricReader(LocalMetricExporter(directory), export_interval_millis=20)
meter_provider = MeterProvider(metric_readers=[reader, periodic])
metrics.set_meter_provider(meter_provider)
tracer_provider = TracerProvider()
tracer_provider.add_span_processor(
    ExportSpanProcessor(BatchSpanProcessor(LocalSpanExporter(directory), schedule_delay_millis=5))
)
trace.set_tracer_provider(tracer_provider)
sdk_patch.install()
tracer = trace.get_tracer("fork-stress")


def request(route: str) -> None:
    try:
        with tracer.start_as_current_span("request", kind=SpanKind.SERVER) as span:
            span.set_attribute("http.route", route)
            raise TimeoutError(route)
    except TimeoutError:
        pass


def errors(route_prefix: str) -> int:
    data = reader.get_metrics_data()
    return sum(
        int(point.value)
        for resource_metrics in (data.resource_metrics if data else ())
        for scope_metrics in resource_metrics.scope_metrics
        for metric in scope_metrics.metrics
        if metric.name == "errors"
        for point in metric.data.data_points
        if str(point.attributes.get("http.route", "")).startswith(route_prefix)
    )


def child() -> int:
    request("/child")
    tracer_provider.force_flush()
    meter_provider.force_flush()
    return errors("/")


stop = threading.Event()


def busy(route: str) -> None:
    while not stop.is_set():
        request(route)


threads = [threading.Thread(target=busy, args=(f"/parent/{i}",), daemon=True) for i in range(4)]
for thread in threads:
    thread.start()
statuses: Counter[str] = Counter()
hung = 0
for _ in range(forks):
    time.sleep(0.02)
    status = wait_child(start_child(child), bound)
    if status is None:
        hung += 1
    else:
        statuses[str(status)] += 1
stop.set()
for thread in threads:
    thread.join(10)
print(json.dumps({"hung": hung, "counts": dict(statuses), "parent_errors": errors("/parent")}))
