"""Side-by-side benchmarks: each group runs a baseline and otel_errors in one session.

The baseline is the vanilla SDK (or contrib instrumentation alone, or logfire's
scrubber for redaction). At the end, the median of each otel_errors case is divided
by the median of its group's baseline and printed as a ratio (lower is better), the
figures the README reports. The ratio of the minimums is printed too: where a round
trip through a server dominates (databases, HTTP), noise from other processes only
ever adds time, and the minimums compare what each side costs at best.

Figures measured outside pytest-benchmark's timer (CPU time of the sides taking
turns: whole processes under the launcher, the HTTP clients' batches) are added to
``summary_lines`` and printed in a section of their own.
"""

from __future__ import annotations

from typing import Any

import pytest

_SUMMARY_LINES = pytest.StashKey[list[str]]()


@pytest.fixture
def summary_lines(request: pytest.FixtureRequest) -> list[str]:
    """Lines a benchmark adds to the end-of-run summary (figures the timer cannot hold)."""
    return request.config.stash.setdefault(_SUMMARY_LINES, [])


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    lines = config.stash.get(_SUMMARY_LINES, [])
    if lines:
        terminalreporter.section("interleaved, CPU time: otel_errors / vanilla (lower is better)")
        for line in lines:
            terminalreporter.write_line(line)
    session = getattr(config, "_benchmarksession", None)
    if session is None or not session.benchmarks:
        return
    by_group: dict[str, dict[str, tuple[float, float]]] = {}
    for bench in session.benchmarks:
        if bench.stats is None or not bench.stats.data:  # failed or skipped
            continue
        side = "otel_errors" if "otel_errors" in bench.name else bench.name
        per_call = bench.extra_info.get("per_call", 1)  # items handled by one call
        by_group.setdefault(bench.group or bench.name, {})[side] = (
            bench.stats.median / per_call,
            bench.stats.min / per_call,
        )
    terminalreporter.section("otel_errors / baseline (median ratio, lower is better)")
    for group, sides in sorted(by_group.items()):
        baselines = [s for s in sides if s != "otel_errors"]
        if "otel_errors" in sides and baselines:
            base = baselines[0]
            (ours, ours_min), (theirs, theirs_min) = sides["otel_errors"], sides[base]
            terminalreporter.write_line(
                f"{group:58} {base} {theirs * 1e6:8.2f} us  otel_errors {ours * 1e6:8.2f} us  "
                f"ratio {ours / theirs:5.2f}  (min ratio {ours_min / theirs_min:4.2f})"
            )
