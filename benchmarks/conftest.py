"""Side-by-side benchmarks: each group runs the vanilla SDK and otel_errors in one session.

At the end, the median of each otel_errors case is divided by the median of the
vanilla case of its group and printed as a ratio (lower is better), the figures the
README reports.
"""

from __future__ import annotations

from typing import Any

import pytest


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    session = getattr(config, "_benchmarksession", None)
    if session is None or not session.benchmarks:
        return
    by_group: dict[str, dict[str, float]] = {}
    for bench in session.benchmarks:
        if bench.stats is None:
            continue
        side = "vanilla" if "vanilla" in bench.name else "otel_errors"
        by_group.setdefault(bench.group or bench.name, {})[side] = bench.stats.median
    terminalreporter.section("otel_errors / vanilla (median ratio, lower is better)")
    for group, sides in sorted(by_group.items()):
        if {"vanilla", "otel_errors"} <= sides.keys():
            ratio = sides["otel_errors"] / sides["vanilla"]
            terminalreporter.write_line(
                f"{group:40} vanilla {sides['vanilla'] * 1e6:9.2f} us   "
                f"otel_errors {sides['otel_errors'] * 1e6:9.2f} us   ratio {ratio:5.2f}"
            )
