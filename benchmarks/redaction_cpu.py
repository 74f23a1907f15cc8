"""Cases f, g and h of test_bench_redaction.py in CPU time, paired against logfire.

pytest-benchmark times wall clock; on a shared machine a neighbour's burst moves its
medians of f by more than the gap being measured (0.62 to 0.87 between three runs of
unchanged code on one day). This script measures the same spans in CPU time
(``time.process_time``, garbage collection off during each batch), the two sides
taking turns batch by batch, and prints per case the median CPU time per span of
each side and the paired ratio (benchmarks/_paired.py).

It measures whichever engine is imported: the pure-Python one from a plain checkout,
the compiled one where mypyc's extension modules sit beside the .py files (as
tests/run.sh unpacks them, or installed from a platform wheel). The engine line of
the output says which::

    .venv/bin/python benchmarks/redaction_cpu.py [BATCHES]
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _paired import paired_ratio
from logfire._internal.scrubbing import Scrubber
from logfire._internal.utils import span_to_dict
from opentelemetry.sdk.trace import ReadableSpan
from test_bench_redaction import (
    BATCH,
    CLEAN_ATTRIBUTES,
    _failed_span,
    _secret_attributes,
    _span,
)

from otel_errors._internal.export.redaction import redact_span
from otel_errors._internal.scrubbing import RedactionConfig, Redactor
from otel_errors._internal.scrubbing import engine as engine_module

Redact = Callable[[ReadableSpan], ReadableSpan]


def _logfire() -> Redact:
    scrubber = Scrubber(None)

    def redact(span: ReadableSpan) -> ReadableSpan:
        span_dict = span_to_dict(span)
        scrubber.scrub_span(span_dict)
        return ReadableSpan(**span_dict)

    return redact


def _otel_errors() -> Redact:
    redactor = Redactor(RedactionConfig.build(hash_key="benchmark"))
    return lambda span: redact_span(span, redactor, [])


def _cpu_per_span(redact: Redact, spans: list[ReadableSpan]) -> float:
    gc.disable()
    try:
        start = time.process_time()
        for span in spans:
            redact(span)
        return (time.process_time() - start) / len(spans)
    finally:
        gc.enable()


def _case(
    name: str, make_spans: Callable[[], list[ReadableSpan]], batches: int
) -> tuple[str, float, float, float]:
    """Per-span medians (µs) of logfire and otel_errors, and the paired ratio."""
    sides = {"logfire": _logfire(), "otel_errors": _otel_errors()}
    samples: dict[str, list[float]] = {side: [] for side in sides}
    for batch in range(-3, batches):  # three warm-up batches
        order = list(sides) if batch % 2 == 0 else list(reversed(sides))
        for side in order:
            cost = _cpu_per_span(sides[side], make_spans())
            if batch >= 0:
                samples[side].append(cost)
    logfire, ours = samples["logfire"], samples["otel_errors"]
    return (
        name,
        statistics.median(logfire) * 1e6,
        statistics.median(ours) * 1e6,
        paired_ratio(logfire, ours),
    )


def main() -> None:
    """Prints one line per case."""
    batches = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    compiled = not str(engine_module.__file__).endswith(".py")
    print(f"engine: {'compiled (mypyc)' if compiled else 'pure Python'}")
    cases = (
        ("f", lambda: [_span(_secret_attributes()) for _ in range(BATCH)]),
        ("g", lambda: [_span(CLEAN_ATTRIBUTES) for _ in range(BATCH)]),
        ("h", lambda: [_failed_span() for _ in range(BATCH)]),
    )
    for name, make_spans in cases:
        case, logfire, ours, ratio = _case(name, make_spans, batches)
        print(
            f"{case}: logfire {logfire:6.2f} µs  otel_errors {ours:6.2f} µs  "
            f"paired ratio {ratio:.3f}"
        )


if __name__ == "__main__":
    main()
