"""``otel-errors report``: new and regressed fingerprints per release, from the local files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from otel_errors._internal.export.local import LocalSpanExporter
from otel_errors._internal.tooling.cli import main


def _checkout() -> None:
    raise TimeoutError("checkout")


def _export() -> None:
    raise KeyError("export")


def _run_release(directory: Path, version: str, *jobs) -> None:
    """One release of a service whose jobs fail unhandled, written by the local exporter."""
    resource = Resource.create({"service.name": "jobs", "service.version": version})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(SimpleSpanProcessor(LocalSpanExporter(directory)))
    tracer = provider.get_tracer("report-releases-test")
    for job in jobs:
        with pytest.raises((TimeoutError, KeyError)), tracer.start_as_current_span(job.__name__):
            job()
    provider.shutdown()


def _report(capsys, *args: str) -> dict:
    assert main(["report", "--json", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_a_fingerprint_first_seen_in_a_release_is_new_there(tmp_path, capsys):
    """1.0 is the baseline; 1.1's new failure is listed as new, the shared one is not."""
    _run_release(tmp_path, "1.0", _checkout)
    _run_release(tmp_path, "1.1", _checkout, _export)
    spans = [json.loads(line) for line in (tmp_path / "spans.jsonl").read_text().splitlines()]
    assert {s["resource"]["service.version"] for s in spans} == {"1.0", "1.1"}
    export = next(s for s in spans if s["name"] == "_export")
    fingerprint = export["events"][0]["attributes"]["error.fingerprint"]
    (event,) = _report(capsys, "--dir", str(tmp_path))["releases"]
    assert event | {"first_seen": "", "example_trace_id": ""} == {
        "service": "jobs", "release": "1.1", "kind": "new", "fingerprint": fingerprint,
        "code": "BUG-003", "first_seen": "", "count": 1, "example_trace_id": "",
    }  # fmt: skip
    assert event["example_trace_id"] == export["trace_id"]
    assert main(["report", "--dir", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "New and regressed errors per release" in text
    assert f"jobs     1.1      new  {fingerprint}  BUG-003" in text
    page = tmp_path / "report.html"
    assert main(["report", "--dir", str(tmp_path), "--html", str(page)]) == 0
    html = page.read_text()
    assert '<table id="releases">' in html
    assert f"<td>new</td><td><code>{fingerprint}</code></td>" in html


def _span(
    version: str, fingerprint: str, time: str, *, handled: bool = False, scheme: str = "1"
) -> str:
    """A span line as the local exporter writes it, with one exception event."""
    attributes = {"error.code": "NET-001", "error.fingerprint": fingerprint,
                  "error.fingerprint.version": scheme, "error.handled": handled,
                  "exception.type": "ConnectionRefusedError"}  # fmt: skip
    return json.dumps({
        "trace_id": f"{abs(hash((version, time))):032x}"[:32], "name": "job", "kind": "INTERNAL",
        "start_time": time, "attributes": {},
        "events": [{"name": "exception", "time": time, "attributes": attributes}],
        "resource": {"service.name": "jobs", "service.version": version},
    })  # fmt: skip


def test_a_fingerprint_back_after_the_absence_regressed_in_its_release(tmp_path, capsys):
    """Gone for longer than --absence and back in 1.2: regressed; a shorter gap: nothing."""
    lines = [
        _span("1.0", "a" * 16, "2026-01-01T00:00:00Z"),
        _span("1.0", "b" * 16, "2026-01-01T00:00:00Z"),
        _span("1.1", "a" * 16, "2026-01-01T20:00:00Z"),  # back after 20h
        _span("1.2", "b" * 16, "2026-01-03T00:00:00Z"),  # back after 2 days
        _span("1.2", "c" * 16, "2026-01-03T00:00:01Z", handled=True),  # handled: not listed
    ]
    (tmp_path / "spans.jsonl").write_text("\n".join(lines) + "\n")
    events = _report(capsys, "--dir", str(tmp_path))["releases"]
    assert [(e["release"], e["kind"], e["fingerprint"]) for e in events] == [
        ("1.2", "regressed", "b" * 16)
    ]
    events = _report(capsys, "--dir", str(tmp_path), "--absence", "12h")["releases"]
    assert [(e["release"], e["kind"], e["fingerprint"]) for e in events] == [
        ("1.1", "regressed", "a" * 16), ("1.2", "regressed", "b" * 16),
    ]  # fmt: skip


def test_a_bad_absence_is_one_clear_error(tmp_path, capsys):
    """An --absence that is not a duration exits 2 naming the option."""
    (tmp_path / "spans.jsonl").write_text(_span("1.0", "a" * 16, "2026-01-01T00:00:00Z") + "\n")
    assert main(["report", "--dir", str(tmp_path), "--absence", "soon"]) == 2
    assert "--absence 'soon'" in capsys.readouterr().err


def test_a_new_fingerprint_scheme_lists_nothing_in_its_first_release(tmp_path, capsys):
    """An upgrade that changes the scheme gives every failure another fingerprint: quiet."""
    lines = [
        _span("1.0", "a" * 16, "2026-01-01T00:00:00Z"),
        _span("1.1", "d" * 16, "2026-01-01T01:00:00Z", scheme="2"),  # "a" under scheme 2
        _span("1.2", "d" * 16, "2026-01-01T02:00:00Z", scheme="2"),
        _span("1.2", "e" * 16, "2026-01-01T02:00:01Z", scheme="2"),  # really new
    ]
    (tmp_path / "spans.jsonl").write_text("\n".join(lines) + "\n")
    events = _report(capsys, "--dir", str(tmp_path))["releases"]
    assert [(e["release"], e["kind"], e["fingerprint"]) for e in events] == [
        ("1.2", "new", "e" * 16)
    ]
