"""Forked children start with working locks and counts of their own.

Each deterministic case holds one lock in another thread while the process forks,
as a busy pre-fork server does, and the child then takes the path that needs it. The
stress case forks many times while threads record and export (in a subprocess, with
its own batching pipeline).
"""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path

import pytest
from _forking import held_by_another_thread, in_child
from opentelemetry import metrics
from opentelemetry.trace import SpanKind

from otel_errors._internal.export.local import JsonLinesFile, LocalSpanExporter
from otel_errors._internal.helpers import fail_open
from otel_errors._internal.helpers.fail_open import report_internal_failure
from otel_errors._internal.recording import runtime

pytestmark = pytest.mark.filterwarnings(
    # Python 3.12+ warns that forking a multi-threaded process may deadlock the child:
    # exactly the situation these tests create on purpose.
    "ignore:This process .* is multi-threaded:DeprecationWarning"
)

HERE = Path(__file__).resolve().parent


def _fail_at(where: str) -> None:
    raise TimeoutError(where)


def _record_error(tracer, where: str, route: str = "/fork", fail=_fail_at) -> None:
    try:
        with tracer.start_as_current_span("request", kind=SpanKind.SERVER) as span:
            span.set_attribute("http.route", route)
            fail(where)
    except TimeoutError:
        pass


def _new_failure_location():
    """A function with code of its own: its frames are not in the stack cache yet."""
    return types.FunctionType(_fail_at.__code__.replace(co_name="fresh_failure"), globals())


def _errors_aggregations() -> list:
    """The SDK aggregations of the ``errors`` counter in the global meter provider."""
    provider = metrics.get_meter_provider()
    found = []
    for storage in provider._measurement_consumer._reader_storages.values():
        for instrument, matches in storage._instrument_view_instrument_matches.items():
            if instrument.name == "errors":
                for match in matches:
                    found += match._attributes_aggregation.values()
    return found


def _writer(tmp_path: Path) -> JsonLinesFile:
    return JsonLinesFile(tmp_path / "spans.jsonl", max_bytes=1 << 20)


def _export_one_span(ctx: dict) -> None:
    """A span exported to the local files (which read the shared resource's attributes)."""
    exporter = LocalSpanExporter(ctx["writer"].path.parent, max_bytes=1 << 20)
    span = ctx["tracer"].start_span("exported")
    span.end()
    exporter.export([span])


LOCKS = {
    "local file writer": (lambda ctx: ctx["writer"]._lock, lambda ctx: ctx["writer"].append([{}])),
    "error.type memory": (
        lambda ctx: runtime.current().error_types._lock,
        lambda ctx: runtime.current().error_types.remember(1, "X"),
    ),
    "open server spans": (
        lambda ctx: runtime.current().local_roots._lock,
        lambda ctx: ctx["tracer"].start_span("s", kind=SpanKind.SERVER).end(),
    ),
    "errors counter series": (
        lambda ctx: runtime.get_recorder().metrics._lock,
        lambda ctx: _record_error(ctx["tracer"], "series", route="/new-series"),
    ),
    "stack cache": (
        lambda ctx: runtime.get_recorder().stack._lock,
        lambda ctx: _record_error(ctx["tracer"], "new", fail=_new_failure_location()),
    ),
    "internal failure log": (
        lambda ctx: fail_open._lock,
        lambda ctx: report_internal_failure("fork.test", ValueError("x")),
    ),
    "resource attributes (SDK)": (
        lambda ctx: getattr(ctx["tracer"].resource.attributes, "_lock", None),
        lambda ctx: _export_one_span(ctx),
    ),
    "errors counter aggregation (SDK)": (
        lambda ctx: _errors_aggregations()[0]._lock,
        lambda ctx: _record_error(ctx["tracer"], "same series"),
    ),
    "exemplar reservoir (SDK)": (
        lambda ctx: getattr(_errors_aggregations()[0]._reservoir, "_lock", None),
        lambda ctx: _record_error(ctx["tracer"], "same series"),
    ),
}


@pytest.mark.parametrize("name", list(LOCKS))
def test_a_child_forked_while_a_lock_is_held_does_not_hang(name, tmp_path, tracer):
    """A fork while another thread holds a lock of the recording path leaves the child working."""
    get_lock, use = LOCKS[name]
    ctx = {"writer": _writer(tmp_path), "tracer": tracer}
    _record_error(tracer, "same series")  # the series exists: its aggregation is found
    lock = get_lock(ctx)
    if lock is None:
        pytest.skip(f"{name}: no such lock in this SDK release")

    def child() -> int:
        use(ctx)
        return 0

    with held_by_another_thread(lock):
        outcome = in_child(child)
    assert outcome == 0, f"child {'hung' if outcome is None else f'exited {outcome}'}"


def test_a_child_counts_its_own_errors(tracer, metric_points):
    """A child's errors counter starts at zero: it never re-exports the parent's counts."""
    for _ in range(3):
        _record_error(tracer, "counted", route="/counted")

    def child() -> int:
        _record_error(tracer, "counted", route="/counted")
        points = [v for a, v in metric_points("errors") if a.get("http.route") == "/counted"]
        return 10 + sum(points)

    assert sum(v for a, v in metric_points("errors") if a.get("http.route") == "/counted") >= 3
    assert in_child(child) == 11


def test_many_forks_while_threads_record_and_export(tmp_path):
    """40 forks while threads record and export: no child hangs, each counts only its own error."""
    result = subprocess.run(
        [sys.executable, str(HERE / "_fork_stress.py"), str(tmp_path), "40"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.splitlines()[-1])
    assert summary["hung"] == 0, summary
    assert summary["counts"] == {"1": 40}, summary
    assert summary["parent_errors"] > 0, summary


def test_the_reset_runs_in_children_only(tracer, metric_points):
    """The parent keeps its counts across a fork."""
    _record_error(tracer, "kept", route="/kept")
    before = sum(v for a, v in metric_points("errors") if a.get("http.route") == "/kept")
    assert in_child(lambda: 0) == 0
    after = sum(v for a, v in metric_points("errors") if a.get("http.route") == "/kept")
    assert after == before
