"""A pytest plugin that records every test's outcome (loaded with ``-p parity_pytest``).

It only listens (``pytest_runtest_logreport``, ``pytest_collectreport``): the
suite's own configuration (``filterwarnings = error``, strict markers, ...) stays
as the project wrote it.
"""

from __future__ import annotations

from typing import Any

from parity_outcomes import record


def pytest_runtest_logreport(report: Any) -> None:
    """Records the outcome of each phase; the harness keeps the worst one per test."""
    if hasattr(report, "wasxfail"):
        outcome = "xfailed" if report.skipped else "passed"  # xpass (not strict) passes
    elif report.passed:
        if report.when != "call":
            return
        outcome = "passed"
    elif report.skipped:
        outcome = "skipped"
    else:
        outcome = "failed" if report.when == "call" else "error"
    reason = "" if report.passed else str(report.longrepr)
    record(report.nodeid, outcome, reason)


def pytest_collectreport(report: Any) -> None:
    """A module that fails to import is an error of its own (its tests never run)."""
    if report.failed:
        record(f"collect:{report.nodeid}", "error", str(report.longrepr))
