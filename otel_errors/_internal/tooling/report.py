"""``otel-errors report``: what a person wants first from the local JSON-lines files.

Top error codes (count, severity, handled share, first and last seen, one example
trace id) and the error rate per endpoint (server spans whose status is ERROR or
whose HTTP status is 5xx, over all server spans of that route). Where exception
events carry the failing frames' variables (``error.locals``, when
``OTEL_ERRORS_CAPTURE_LOCALS`` is on), the latest capture of each code is shown.
Fingerprints new or regressed in a release come from ``report_releases``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from otel_errors._internal import names
from otel_errors._internal.export.local import LOGS_FILE, SPANS_FILE
from otel_errors._internal.tooling.report_releases import ReleaseEvent, ReleaseHistory

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from otel_errors._internal.model.catalog import Catalog

_HTTP_SERVER_ERROR = 500


@dataclass
class CodeStats:
    """Occurrences of one error code."""

    code: str
    severity: str
    count: int = 0
    handled: int = 0
    first_seen: str = ""
    last_seen: str = ""
    example_trace_id: str = ""
    exception_types: dict[str, int] = field(default_factory=dict)
    times: list[str] = field(default_factory=list)  # every occurrence, for the HTML charts
    example_locals: list[dict[str, Any]] = field(default_factory=list)
    """The frames of the latest ``error.locals`` of this code (innermost first)."""
    _locals_time: str = ""

    def add(self, time: str, trace_id: str, exc_type: str, *, handled: bool) -> None:
        """Counts one occurrence."""
        self.count += 1
        if time:
            self.times.append(time)
        self.handled += int(handled)
        if not self.first_seen or time < self.first_seen:
            self.first_seen = time
        if time > self.last_seen:
            self.last_seen = time
            self.example_trace_id = trace_id or self.example_trace_id
        self.exception_types[exc_type] = self.exception_types.get(exc_type, 0) + 1


@dataclass
class EndpointStats:
    """Requests and failed requests of one server endpoint."""

    service: str
    endpoint: str
    requests: int = 0
    errors: int = 0

    @property
    def rate(self) -> float:
        """Share of failed requests."""
        return self.errors / self.requests if self.requests else 0.0


@dataclass
class Report:
    """Everything ``otel-errors report`` prints."""

    spans: int = 0
    codes: dict[str, CodeStats] = field(default_factory=dict)
    endpoints: dict[tuple[str, str], EndpointStats] = field(default_factory=dict)
    skipped_lines: int = 0
    releases: ReleaseHistory = field(default_factory=ReleaseHistory)
    absence: timedelta = timedelta(days=1)
    """A fingerprint back after this long without an occurrence regressed."""

    def release_events(self) -> list[ReleaseEvent]:
        """Fingerprints new or regressed per release (see ``report_releases``)."""
        return self.releases.events(self.absence)

    def top_codes(self, limit: int) -> list[CodeStats]:
        """Codes by count (most first), then by severity."""
        return sorted(self.codes.values(), key=lambda s: (-s.count, s.severity, s.code))[:limit]

    def endpoints_by_rate(self) -> list[EndpointStats]:
        """Endpoints by error rate, then by traffic."""
        return sorted(self.endpoints.values(), key=lambda e: (-e.rate, -e.requests, e.endpoint))

    def add_exception(self, attributes: dict[str, Any], time: str, trace_id: str) -> None:
        """Counts one recorded exception (span event or log record)."""
        code = str(attributes.get(names.ERROR_CODE, names.UNKNOWN_CODE))
        stats = self.codes.get(code)
        if stats is None:
            stats = CodeStats(code, str(attributes.get(names.ERROR_SEVERITY, "?")))
            self.codes[code] = stats
        stats.add(
            time,
            trace_id,
            str(attributes.get(names.EXCEPTION_TYPE, "?")),
            handled=attributes.get(names.ERROR_HANDLED) is True,
        )
        captured = attributes.get(names.ERROR_LOCALS)
        if isinstance(captured, str) and time >= stats._locals_time:
            frames = parse_locals(captured)
            if frames:
                stats.example_locals, stats._locals_time = frames, time

    def add_span(self, span: dict[str, Any]) -> None:
        """Counts a span's exception events and, for server spans, the request."""
        self.spans += 1
        trace_id = span.get("trace_id") or ""
        resource = span.get("resource") or {}
        self.releases.add_span(resource, span.get("start_time") or "")
        for event in span.get("events") or ():
            if event.get("name") == names.EXCEPTION_EVENT:
                attributes, time = event.get("attributes") or {}, event.get("time") or ""
                self.add_exception(attributes, time, trace_id)
                self.releases.add_exception(resource, attributes, time, trace_id)
        if span.get("kind") != "SERVER":
            return
        attributes = span.get("attributes") or {}
        service = str((span.get("resource") or {}).get("service.name", "?"))
        key = (service, _endpoint(span, attributes))
        stats = self.endpoints.get(key)
        if stats is None:
            stats = self.endpoints[key] = EndpointStats(*key)
        stats.requests += 1
        status = attributes.get("http.response.status_code", attributes.get("http.status_code"))
        failed = (span.get("status") or {}).get("code") == "ERROR" or (
            isinstance(status, int) and status >= _HTTP_SERVER_ERROR
        )
        stats.errors += int(failed)


def _endpoint(span: dict[str, Any], attributes: dict[str, Any]) -> str:
    route = attributes.get("http.route")
    method = attributes.get("http.request.method", attributes.get("http.method"))
    if route:
        return f"{method} {route}" if method else str(route)
    return str(span.get("name", "?"))


def _lines(path: Path) -> Iterator[str]:
    for candidate in (path.with_name(path.name + ".1"), path):
        if candidate.exists():
            with candidate.open(encoding="utf-8", errors="replace") as handle:
                yield from handle


def build_report(directory: Path, absence: timedelta = timedelta(days=1)) -> Report:
    """Reads ``spans.jsonl`` and ``logs.jsonl`` (and their rotated ``.1``) in ``directory``.

    ``absence``: how long a fingerprint must be gone to count as regressed when back.
    """
    report = Report(absence=absence)
    for line in _lines(directory / SPANS_FILE):
        record = _parse(line, report)
        if record is not None:
            report.add_span(record)
    for line in _lines(directory / LOGS_FILE):
        record = _parse(line, report)
        if record is not None and record.get("event_name") == names.EXCEPTION_EVENT:
            attributes = record.get("attributes") or {}
            time, trace_id = record.get("timestamp") or "", record.get("trace_id") or ""
            report.add_exception(attributes, time, trace_id)
            report.releases.add_exception(record.get("resource") or {}, attributes, time, trace_id)
    return report


def _parse(line: str, report: Report) -> dict[str, Any] | None:
    if not line.strip():
        return None
    try:
        record = json.loads(line)
    except ValueError:
        report.skipped_lines += 1
        return None
    if not isinstance(record, dict):
        report.skipped_lines += 1
        return None
    return record


def parse_locals(text: str) -> list[dict[str, Any]]:
    """The frames of an ``error.locals`` value; none when it is not what we write."""
    try:
        frames = json.loads(text)
    except ValueError:
        return []
    if not isinstance(frames, list):
        return []
    return [
        frame
        for frame in frames
        if isinstance(frame, dict) and isinstance(frame.get("locals"), dict)
    ]


def frame_heading(frame: dict[str, Any]) -> str:
    """``module:function line N`` (``(N variables left out)`` when some were)."""
    heading = f"{frame.get('function', '?')} line {frame.get('line', '?')}"
    omitted = frame.get("omitted")
    return f"{heading} ({omitted} variables left out)" if omitted else heading


def describe(stats: CodeStats, catalog: Catalog) -> str:
    """The code's catalogue title and its most frequent exception type."""
    entry = catalog.get(stats.code)
    exc_type = max(stats.exception_types, key=stats.exception_types.__getitem__)
    return f"{entry.title} ({exc_type})" if entry else exc_type


def render_text(report: Report, catalog: Catalog, directory: Path, top: int) -> str:
    """The report as aligned plain-text tables."""
    out = [f"otel_errors report for {directory} ({report.spans} spans)", ""]
    if not report.codes:
        out.append("No errors recorded.")
    else:
        out.append("Top errors")
        rows = [
            ["code", "sev", "count", "handled", "first seen", "last seen", "example trace", "what"]
        ]
        for stats in report.top_codes(top):
            what = describe(stats, catalog)
            rows.append(
                [
                    stats.code,
                    stats.severity,
                    str(stats.count),
                    str(stats.handled),
                    stats.first_seen[:19],
                    stats.last_seen[:19],
                    stats.example_trace_id,
                    what,
                ]
            )
        out += _table(rows, numeric={2, 3})
        out += _locals_text(report.top_codes(top))
        out += _releases_text(report.release_events(), catalog)
    out.append("")
    if report.endpoints:
        out.append("Error rate per endpoint")
        rows = [["service", "endpoint", "requests", "errors", "rate"]]
        rows += [
            [e.service, e.endpoint, str(e.requests), str(e.errors), f"{e.rate:.1%}"]
            for e in report.endpoints_by_rate()
        ]
        out += _table(rows, numeric={2, 3, 4})
    if report.skipped_lines:
        out += ["", f"({report.skipped_lines} unreadable lines skipped)"]
    return "\n".join(out) + "\n"


def render_json(report: Report, top: int) -> str:
    """The report as one JSON document."""
    return json.dumps(
        {
            "spans": report.spans,
            "errors": [
                {
                    "code": s.code,
                    "severity": s.severity,
                    "count": s.count,
                    "handled": s.handled,
                    "first_seen": s.first_seen,
                    "last_seen": s.last_seen,
                    "example_trace_id": s.example_trace_id,
                    "exception_types": s.exception_types,
                    "example_locals": s.example_locals,
                }
                for s in report.top_codes(top)
            ],
            "endpoints": [
                {
                    "service": e.service,
                    "endpoint": e.endpoint,
                    "requests": e.requests,
                    "errors": e.errors,
                    "error_rate": round(e.rate, 4),
                }
                for e in report.endpoints_by_rate()
            ],
            "releases": [
                {
                    "service": e.service,
                    "release": e.release,
                    "kind": e.kind,
                    "fingerprint": e.fingerprint,
                    "code": e.code,
                    "first_seen": e.first_seen,
                    "count": e.count,
                    "example_trace_id": e.example_trace_id,
                }
                for e in report.release_events()
            ],
            "skipped_lines": report.skipped_lines,
        },
        indent=2,
    )


def _locals_text(codes: list[CodeStats]) -> list[str]:
    captured = [stats for stats in codes if stats.example_locals]
    if not captured:
        return []
    out = ["", "Variables of the failing frames (latest capture per code, innermost first)"]
    for stats in captured:
        out.append(f"  {stats.code}")
        for frame in stats.example_locals:
            out.append(f"    {frame_heading(frame)}")
            out += [f"      {name} = {value}" for name, value in frame["locals"].items()]
    return out


def _releases_text(events: list[ReleaseEvent], catalog: Catalog) -> list[str]:
    if not events:
        return []
    out = ["", "New and regressed errors per release (unhandled, by fingerprint)"]
    rows = [["service", "release", "", "fingerprint", "code", "since", "count", "example trace",
             "what"]]  # fmt: skip
    for event in events:
        entry = catalog.get(event.code)
        rows.append(
            [event.service, event.release, event.kind, event.fingerprint, event.code,
             event.first_seen[:19], str(event.count), event.example_trace_id,
             entry.title if entry else ""]
        )  # fmt: skip
    return out + _table(rows, numeric={6})


def _table(rows: list[list[str]], numeric: set[int]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [
            cell.rjust(widths[i]) if i in numeric else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        lines.append("  " + "  ".join(cells).rstrip())
    return lines
