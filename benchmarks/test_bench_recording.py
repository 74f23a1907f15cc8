"""Recording cost: otel_errors vs the vanilla SDK (BatchSpanProcessor, dropping exporter).

- success: a span whose body succeeds (target: within 5% of vanilla), measured after
  some errors were recorded, as in a running service;
- first_failure: a span whose body raises from a new place, recorded by the SDK's
  context manager (target: no slower than vanilla despite the extra attributes);
- error_storm: the same exception raised again and again from one place, recorded on
  an open span (target: at least 3x faster than vanilla per recorded exception).

The failing call sits ten distinct frames deep, like a handler under a framework.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from otel_errors._internal.pipeline import sdk_patch
from otel_errors._internal.pipeline.setup import tracer_components
from otel_errors._internal.recording.runtime import current


class DroppingExporter(SpanExporter):
    """Accepts and forgets every span, so only the in-process cost is measured."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def vanilla_provider() -> TracerProvider:
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(DroppingExporter()))
    return provider


def otel_errors_provider() -> TracerProvider:
    processors, export_processor = tracer_components(current().redactor)
    provider = TracerProvider()
    for processor in processors:
        provider.add_span_processor(processor)
    provider.add_span_processor(export_processor(DroppingExporter()))
    return provider


@pytest.fixture(params=["vanilla", "otel_errors"])
def side(request) -> Iterator[tuple[str, TracerProvider]]:
    if request.param == "vanilla":
        sdk_patch.uninstall()
        provider = vanilla_provider()
    else:
        sdk_patch.install()
        provider = otel_errors_provider()
        # Steady state of a real service: some errors were recorded before.
        with provider.get_tracer("warm-up").start_as_current_span("failed") as span:
            span.record_exception(ValueError("warm-up"))
    yield request.param, provider
    provider.shutdown()
    sdk_patch.uninstall()


def f1(n: int) -> None:
    f2(n)


def f2(n: int) -> None:
    f3(n)


def f3(n: int) -> None:
    f4(n)


def f4(n: int) -> None:
    f5(n)


def f5(n: int) -> None:
    f6(n)


def f6(n: int) -> None:
    f7(n)


def f7(n: int) -> None:
    f8(n)


def f8(n: int) -> None:
    f9(n)


def f9(n: int) -> None:
    f10(n)


def f10(n: int) -> None:
    raise ValueError(f"invalid quantity {n} for order")


def test_success(benchmark, side):
    name, provider = side
    tracer = provider.get_tracer("bench")
    benchmark.group = "a. successful span"
    benchmark.name = name

    def run() -> None:
        with tracer.start_as_current_span("op"):
            pass

    benchmark(run)


def test_first_failure(benchmark, side):
    name, provider = side
    tracer = provider.get_tracer("bench")
    benchmark.group = "b. failing span, new location"
    benchmark.name = name
    counter = iter(range(10**9))
    stack = current().recorder.stack

    def run() -> None:
        stack._frames.clear()  # every failure is at a location never seen before
        try:
            with tracer.start_as_current_span("op"):
                f1(next(counter))
        except ValueError:
            pass

    benchmark(run)


def test_error_storm(benchmark, side):
    name, provider = side
    tracer = provider.get_tracer("bench")
    benchmark.group = "c. error storm, per recorded exception"
    benchmark.name = name
    counter = iter(range(10**9))
    with tracer.start_as_current_span("storm") as span:

        def run() -> None:
            try:
                f1(next(counter))
            except ValueError as exc:
                span.record_exception(exc)

        benchmark(run)
