"""Parity with the vanilla distro on test suites nobody here wrote (tests/parity/harness.py).

The two ``parity`` tests run Django's and Starlette's own suites under the launcher
with each distro and fail on any test that does worse under otel_errors; they print
the harness's summary (counts, wall-time ratio, each difference and its reason).
The other tests pin the harness's rules on hand-made runs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "parity"))
import harness

HARNESS = Path(harness.__file__)


@pytest.mark.parity
@pytest.mark.skipif(sys.version_info < (3, 11), reason="the suites' locks need Python 3.11+")
@pytest.mark.parametrize("suite", sorted(harness.SUITES))
def test_no_test_of_a_real_suite_does_worse_under_otel_errors(suite, tmp_path, capsys):
    """Every test of the suite that passes (or skips) under vanilla does so under otel_errors."""
    report_path = tmp_path / "report.json"
    result = subprocess.run(
        [sys.executable, str(HARNESS), "--suite", suite, "--report", str(report_path)],
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    with capsys.disabled():
        print(f"\n{result.stdout}", end="")
    assert result.returncode in {0, 1}, result.stderr[-5000:]
    (report,) = json.loads(report_path.read_text())
    for side in harness.SIDES:
        assert report["counts"][side]["run"] > 0, side
    # Both sides traced requests: the launcher and the contrib instrumentation were on.
    assert report["telemetry"]["vanilla"]["spans"] > 0
    assert report["telemetry"]["otel_errors"]["spans"] > 0
    regressions = [f"{r['test']}: {r['reason']}" for r in report["regressions"]]
    shown = "\n".join(regressions[:30])
    assert not regressions, f"{len(regressions)} tests do worse under otel_errors:\n{shown}"
    assert result.returncode == 0


def _run(outcomes, tail="", wall=1.0):
    return harness.Run(
        outcomes={test: (outcome, f"{outcome}: {test}") for test, outcome in outcomes.items()},
        exit_code=0,
        wall=wall,
        cpu=wall,
        tail=tail,
        telemetry={"spans": 1},
    )


def test_a_test_failing_only_under_otel_errors_on_both_runs_is_a_regression():
    """Passed under vanilla, failed under ours, and again on the rerun: a parity failure."""
    runs = {"vanilla": _run({"a": "passed"}), "otel_errors": _run({"a": "failed"})}
    report = harness.compare(harness.SUITES["django"], runs, dict(runs))
    assert [r["test"] for r in report["regressions"]] == ["a"]
    assert report["flaky"] == []


def test_a_difference_the_rerun_does_not_show_is_flaky_not_a_regression():
    """A test that fails under ours once and passes on the rerun is reported, not failed."""
    first = {"vanilla": _run({"a": "passed"}), "otel_errors": _run({"a": "failed"})}
    rerun = {"vanilla": _run({"a": "passed"}), "otel_errors": _run({"a": "passed"})}
    report = harness.compare(harness.SUITES["django"], first, rerun)
    assert report["regressions"] == []
    assert report["flaky"][0]["rerun"] == {"vanilla": "passed", "otel_errors": "passed"}


def test_tests_that_fail_under_both_or_do_better_under_ours_do_not_fail_the_harness():
    """Failing without otel_errors too is not ours to judge; doing better is reported."""
    runs = {
        "vanilla": _run({"a": "failed", "b": "error", "c": "passed"}),
        "otel_errors": _run({"a": "failed", "b": "passed", "c": "passed"}),
    }
    report = harness.compare(harness.SUITES["django"], runs, None)
    assert report["regressions"] == []
    assert [f["test"] for f in report["failed_under_both"]] == ["a"]
    assert [b["test"] for b in report["better_under_otel_errors"]] == ["b"]


def test_tests_a_crashed_run_never_reached_count_as_failed_with_the_runs_last_words():
    """A test missing under ours (the run died) is a regression whose reason is the run's end."""
    runs = {
        "vanilla": _run({"a": "passed", "b": "skipped"}),
        "otel_errors": _run({"a": "passed"}, tail="Traceback...\nRuntimeError: boom\n"),
    }
    report = harness.compare(harness.SUITES["starlette"], runs, None)
    assert report["regressions"] == [
        {
            "test": "b",
            "vanilla": "skipped",
            "otel_errors": "not run",
            "reason": "RuntimeError: boom",
            "detail": "Traceback...\nRuntimeError: boom\n",
        }
    ]


def test_an_error_only_ours_reports_is_a_regression():
    """An entry that exists only under ours (a class set-up error, say) fails the harness."""
    runs = {"vanilla": _run({"a": "passed"}), "otel_errors": _run({"a": "passed", "x": "error"})}
    assert [
        r["test"] for r in harness.compare(harness.SUITES["django"], runs, None)["regressions"]
    ] == ["x"]


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (
            (
                "Traceback (most recent call last):\n  File 'x.py', line 1, in f\n    g()\n"
                "AssertionError: 500 != 400\n"
            ),
            "AssertionError: 500 != 400",
        ),
        (
            (
                "    def test_x():\n>       assert r.status == 400\nE       assert 500 == 400\n"
                "E        +  where 500 = r.status\n\ntests/test_x.py:12: AssertionError"
            ),
            "assert 500 == 400",
        ),
        ("", "(no output)"),
    ],
)
def test_the_reason_of_a_failure_is_its_exception_or_pytests_first_e_line(text, line):
    """Unittest tracebacks give their exception line, pytest reports their first ``E`` line."""
    assert harness.reason_line(text) == line


@pytest.mark.parametrize(
    ("suite", "test", "module"),
    [
        (
            "django",
            "view_tests.tests.test_debug.DebugViewTests.test_files",
            "view_tests.tests.test_debug",
        ),
        ("django", "setUpClass (handlers.tests.HandlerTests)", "handlers.tests"),
        ("starlette", "tests/test_routing.py::test_router[asyncio]", "tests/test_routing.py"),
        ("starlette", "collect:tests/test_x.py", "tests/test_x.py"),
    ],
)
def test_a_differing_test_is_rerun_with_its_module(suite, test, module):
    """The rerun label keeps the test's module around it (its fixtures and class set-up)."""
    assert harness.SUITES[suite].module_of(test) == module


def test_the_worst_outcome_recorded_for_a_test_stands(tmp_path):
    """A passed call and a failed teardown (or a failed subtest) make a failed test."""
    results = tmp_path / "results.jsonl"
    lines = [("a", "passed"), ("a", "error"), ("b", "failed"), ("b", "passed"), ("c", "skipped")]
    results.write_text(
        "".join(json.dumps({"id": t, "outcome": o, "reason": o}) + "\n" for t, o in lines)
    )
    assert harness._read_outcomes(results) == {
        "a": ("error", "error"),
        "b": ("failed", "failed"),
        "c": ("skipped", "skipped"),
    }
