"""A counter series added to directly counts and samples exemplars as ``Counter.add`` does."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.metrics import NoOpCounter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.metrics.view import View
from opentelemetry.sdk.trace import TracerProvider

from otel_errors._internal.recording.sdk_internals import CounterSeries

ATTRIBUTES = {"error.code": "DB-001", "error.severity": "P2", "error.handled": False}


def _points(
    reader: InMemoryMetricReader, name: str = "errors"
) -> list[tuple[dict[str, Any], int, set[int]]]:
    """``(attributes, value, exemplar trace ids)`` of each point of metric ``name``."""
    data = reader.get_metrics_data()
    found = []
    for resource_metrics in data.resource_metrics if data else ():
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                if metric.name == name:
                    found += [
                        (dict(p.attributes), p.value, {e.trace_id for e in p.exemplars})
                        for p in metric.data.data_points
                    ]
    return found


def _adds(add_one: Any, count: int) -> list[int]:
    """``count`` adds, each in a span of its own; the spans' trace ids."""
    tracer = TracerProvider().get_tracer("t")
    trace_ids = []
    for _ in range(count):
        with tracer.start_as_current_span("s") as span:
            add_one(trace.set_span_in_context(span))
            trace_ids.append(span.get_span_context().trace_id)
    return trace_ids


@pytest.mark.parametrize(
    "views", [(), (View(instrument_name="errors", attribute_keys={"error.code"}),)]
)
def test_a_series_counts_as_counter_add_does(views) -> None:
    """Same points, values and exemplars as ``Counter.add``, with or without a filtering view."""
    by_series, by_add = InMemoryMetricReader(), InMemoryMetricReader()
    counter = MeterProvider([by_series], views=views).get_meter("m").create_counter("errors")
    plain = MeterProvider([by_add], views=views).get_meter("m").create_counter("errors")
    series = CounterSeries(counter, ATTRIBUTES)
    sdk_adds = []
    sdk_add = counter.add
    counter.add = lambda *args, **kwargs: sdk_adds.append(1) or sdk_add(*args, **kwargs)
    traced = _adds(series.add, 5)
    assert sdk_adds == [1, 1]  # the second add finds the series; the others go straight to it
    _adds(lambda context: plain.add(1, ATTRIBUTES, context=context), 5)
    [(attributes, value, exemplars)] = _points(by_series)
    assert [(attributes, value)] == [(a, v) for a, v, _ in _points(by_add)]
    assert value == 5
    assert exemplars
    assert exemplars <= set(traced)


def test_a_series_follows_new_storage() -> None:
    """After the storage is rebuilt (a forked child), adds land in the new one, not the old."""
    reader = InMemoryMetricReader()
    provider = MeterProvider([reader])
    counter = provider.get_meter("m").create_counter("errors")
    series = CounterSeries(counter, ATTRIBUTES)
    _adds(series.add, 3)
    assert [value for _, value, _ in _points(reader)] == [3]
    consumer: Any = provider._measurement_consumer
    old = consumer._reader_storages
    consumer._reader_storages = {
        r: type(s)(s._sdk_config, s._instrument_class_temporality, s._instrument_class_aggregation)
        for r, s in old.items()
    }
    _adds(series.add, 2)
    assert [value for _, value, _ in _points(reader)] == [2]


def test_other_counters_are_added_to_by_their_add() -> None:
    """A counter that is not the SDK's is left to its own ``add``."""
    added = []

    class Recording(NoOpCounter):
        def add(self, amount, attributes=None, context=None) -> None:
            added.append((amount, attributes, context is not None))

    series = CounterSeries(Recording("errors"), ATTRIBUTES)
    _adds(series.add, 2)
    assert added == [(1, ATTRIBUTES, True), (1, ATTRIBUTES, True)]
