"""The failing frames' variables (``error.locals``): the same failure with capture off and on.

- first occurrence: a failure whose fingerprint was not captured in the window (the
  capture memo and the stack cache are emptied before each call, on both sides), so
  "on" renders, redacts and encodes the variables of the three innermost frames;
- repeated: the same failure again and again on an open span (an error storm): "on"
  only looks its fingerprint up in the memo.

Both sides run otel_errors (the baseline is capture off, not the vanilla SDK); the
summary's ratio is the added cost. The size ``error.locals`` adds to the event is
printed in the whole-process section.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider

from otel_errors._internal import names
from otel_errors._internal.config.settings import Settings
from otel_errors._internal.pipeline import sdk_patch
from otel_errors._internal.recording import frame_locals, runtime

from test_bench_recording import otel_errors_provider  # isort: skip


class Order:
    """An application object: named, never rendered."""


def handler(n: int) -> None:
    customer = "ada.lovelace"
    basket = {"sku-1": 2, "sku-2": 1}
    items = [("sku-1", 9.99), ("sku-2", 24.5)]
    validate(n, Order(), customer, basket, items)


def validate(n: int, order: Order, customer: str, basket: dict[str, int], items: list) -> None:
    total = sum(price for _, price in items)
    limit = 20.0
    check(n, total, limit)


def check(n: int, total: float, limit: float) -> None:
    raise ValueError(f"invalid quantity {n} for order of {total} over {limit}")


@pytest.fixture(params=["capture off", "otel_errors capture on"])
def side(request) -> Iterator[tuple[str, TracerProvider, runtime.Runtime]]:
    previous = runtime.current()
    on = request.param != "capture off"
    installed = runtime.Runtime(
        Settings.load({"capture_locals": on}, environ={}),
        registry=previous.registry,
        redactor=previous.redactor,
    )
    runtime.install(installed)
    sdk_patch.install()
    provider = otel_errors_provider()
    yield request.param, provider, installed
    provider.shutdown()
    sdk_patch.uninstall()
    runtime.install(previous)


def test_first_occurrence(benchmark, side):
    name, provider, installed = side
    tracer = provider.get_tracer("bench")
    benchmark.group = "l1. failing span, first occurrence (locals)"
    benchmark.name = name
    counter = iter(range(10**9))
    stack, memo = installed.recorder.stack, installed.frame_locals

    def run() -> None:
        stack._frames.clear()  # a location never seen before
        memo.after_fork()  # a fingerprint not captured in the window
        try:
            with tracer.start_as_current_span("op"):
                handler(next(counter))
        except ValueError:
            pass

    benchmark(run)


def test_repeated(benchmark, side):
    name, provider, _ = side
    tracer = provider.get_tracer("bench")
    benchmark.group = "l2. error storm, repeated failure (locals)"
    benchmark.name = name
    counter = iter(range(10**9))
    with tracer.start_as_current_span("storm") as span:

        def run() -> None:
            try:
                handler(next(counter))
            except ValueError as exc:
                span.record_exception(exc)

        benchmark(run)


def test_added_event_size(side, summary_lines):
    """Bytes ``error.locals`` adds to this failure's event (JSON text, ASCII)."""
    name, _, installed = side
    try:
        handler(1)
    except ValueError as exc:
        attributes, _ = installed.recorder.attributes(exc, handled=False)
    text = attributes.get(names.ERROR_LOCALS)
    if name == "capture off":
        assert text is None
        return
    assert isinstance(text, str)
    frames = json.loads(text)
    summary_lines.append(
        f"error.locals of the benchmark's failure: {len(text.encode())} bytes "
        f"({len(frames)} frames, {sum(len(f['locals']) for f in frames)} variables); "
        f"bound {frame_locals.MAX_BYTES} bytes"
    )
