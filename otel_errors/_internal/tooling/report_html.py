"""``otel-errors report --html FILE``: the report as one page a person can open anywhere.

The page is self-contained on purpose: it is often opened from a laptop that copied
the file off a server, or attached to an incident ticket, so it may load nothing
(no script, no font, no stylesheet, no image from the network; a Content Security
Policy says so to the browser as well). Charts are inline SVG drawn here.

Every value on the page comes from telemetry (codes, exception types, routes,
service names, catalogue titles), so every one is HTML-escaped, in text and in
attributes alike: a route named ``<script>`` shows as text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from html import escape
from typing import TYPE_CHECKING

from otel_errors._internal.tooling.report import describe, frame_heading

if TYPE_CHECKING:
    from pathlib import Path

    from otel_errors._internal.model.catalog import Catalog
    from otel_errors._internal.tooling.report import CodeStats, Report

_BUCKETS = 40  # at most this many time buckets per chart
_STEPS = (1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 6 * 3600, 86400, 7 * 86400)  # seconds
_CHART_CODES = 8  # series in the per-code chart; the rest fold into "other"
_PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#7f7f7f",
)
_SEVERITY_COLOURS = {"P1": "#b71c1c", "P2": "#ef6c00", "P3": "#f9a825", "P4": "#1565c0"}
_OTHER_COLOUR = "#9e9e9e"
_WIDTH, _HEIGHT, _LEFT, _BOTTOM, _TOP = 760, 240, 44, 28, 10

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#212121}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}
p.meta{color:#616161;margin:0 0 12px;font-size:13px}
table{border-collapse:collapse;font-size:13px}
th,td{padding:4px 10px;border-bottom:1px solid #e0e0e0;text-align:left;white-space:nowrap}
th{background:#f5f5f5}td.n{text-align:right;font-variant-numeric:tabular-nums}
td.what{white-space:normal;max-width:420px}code{font-size:12px}
.sev{display:inline-block;padding:1px 6px;border-radius:3px;color:#fff;font-weight:600}
.ratebar{display:inline-block;height:10px;background:#d62728;vertical-align:middle}
.legend span{display:inline-block;margin-right:14px;font-size:12px}
.legend i{display:inline-block;width:10px;height:10px;margin-right:4px}
svg text{font-size:10px;fill:#616161}
"""


@dataclass(frozen=True)
class Timeline:
    """Occurrences counted in equal time buckets."""

    start: datetime
    step: timedelta
    buckets: int

    def index(self, stamp: datetime) -> int:
        """The bucket of ``stamp``."""
        return min(int((stamp - self.start) / self.step), self.buckets - 1)

    def label(self, index: int) -> str:
        """The start of bucket ``index``, as short as the step allows."""
        moment = self.start + self.step * index
        if self.step >= timedelta(days=1):
            return moment.strftime("%m-%d")
        if self.step >= timedelta(minutes=1):
            return moment.strftime("%m-%d %H:%M")
        return moment.strftime("%H:%M:%S")


def _parse(stamp: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _timeline(stamps: list[datetime]) -> Timeline | None:
    if not stamps:
        return None
    first, last = min(stamps), max(stamps)
    seconds = (last - first).total_seconds()
    step = next((s for s in _STEPS if seconds / s < _BUCKETS), _STEPS[-1])
    start = datetime.fromtimestamp(first.timestamp() // step * step, tz=timezone.utc)
    buckets = int((last - start).total_seconds() // step) + 1
    return Timeline(start, timedelta(seconds=step), min(buckets, _BUCKETS))


def _series(
    report: Report,
) -> tuple[Timeline | None, dict[str, list[int]], dict[str, list[int]]]:
    """Counts per bucket, by code (top codes, then "other") and by severity."""
    parsed: list[tuple[CodeStats, datetime]] = []
    for stats in report.codes.values():
        parsed += [(stats, t) for t in map(_parse, stats.times) if t is not None]
    timeline = _timeline([t for _, t in parsed])
    if timeline is None:
        return None, {}, {}
    charted = {s.code for s in report.top_codes(_CHART_CODES)}
    by_code: dict[str, list[int]] = {
        s.code: [0] * timeline.buckets for s in report.top_codes(_CHART_CODES)
    }
    by_severity: dict[str, list[int]] = {}
    for stats, stamp in parsed:
        index = timeline.index(stamp)
        code = stats.code if stats.code in charted else "other"
        by_code.setdefault(code, [0] * timeline.buckets)[index] += 1
        by_severity.setdefault(stats.severity, [0] * timeline.buckets)[index] += 1
    return timeline, by_code, dict(sorted(by_severity.items()))


def _axes(timeline: Timeline, peak: int) -> list[str]:
    """Frame, y ticks and a few x labels."""
    bottom = _HEIGHT - _BOTTOM
    out = [
        f'<line x1="{_LEFT}" y1="{_TOP}" x2="{_LEFT}" y2="{bottom}" stroke="#9e9e9e"/>',
        f'<line x1="{_LEFT}" y1="{bottom}" x2="{_WIDTH}" y2="{bottom}" stroke="#9e9e9e"/>',
    ]
    for value in sorted({0, peak // 2, peak}):
        y = bottom - (bottom - _TOP) * value / max(peak, 1)
        out.append(
            f'<text x="{_LEFT - 6}" y="{y + 3:.1f}" text-anchor="end">{value}</text>'
            f'<line x1="{_LEFT}" y1="{y:.1f}" x2="{_WIDTH}" y2="{y:.1f}" stroke="#eeeeee"/>'
        )
    every = max(1, timeline.buckets // 5)
    width = (_WIDTH - _LEFT) / timeline.buckets
    for index in range(0, timeline.buckets, every):
        x = _LEFT + width * index
        out.append(f'<text x="{x:.1f}" y="{bottom + 16}">{escape(timeline.label(index))}</text>')
    return out


def _svg(label: str, body: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(label)}" '
        f'width="{_WIDTH}" height="{_HEIGHT}" viewBox="0 0 {_WIDTH} {_HEIGHT}">'
        f"<title>{escape(label)}</title>{''.join(body)}</svg>"
    )


def _legend(colours: dict[str, str]) -> str:
    items = "".join(
        f'<span><i style="background:{colour}"></i>{escape(name)}</span>'
        for name, colour in colours.items()
    )
    return f'<div class="legend">{items}</div>'


def _line_chart(timeline: Timeline, series: dict[str, list[int]]) -> str:
    """One polyline per code; each point is a bucket's count."""
    peak = max(max(values) for values in series.values())
    bottom = _HEIGHT - _BOTTOM
    width = (_WIDTH - _LEFT) / timeline.buckets
    colours = {}
    body = _axes(timeline, peak)
    for number, (code, values) in enumerate(series.items()):
        colour = _OTHER_COLOUR if code == "other" else _PALETTE[number % len(_PALETTE)]
        colours[code] = colour
        points = " ".join(
            f"{_LEFT + width * (i + 0.5):.1f},{bottom - (bottom - _TOP) * v / peak:.1f}"
            for i, v in enumerate(values)
        )
        body.append(
            f'<polyline class="series" data-code="{escape(code)}" fill="none" '
            f'stroke="{colour}" stroke-width="2" points="{points}">'
            f"<title>{escape(code)}: {sum(values)}</title></polyline>"
        )
    return _svg("Errors over time per code", body) + _legend(colours)


def _stacked_bars(timeline: Timeline, series: dict[str, list[int]]) -> str:
    """One bar per bucket, stacked by severity."""
    totals = [sum(column) for column in zip(*series.values(), strict=True)]
    peak = max(totals)
    bottom = _HEIGHT - _BOTTOM
    width = (_WIDTH - _LEFT) / timeline.buckets
    body = _axes(timeline, peak)
    colours = {sev: _SEVERITY_COLOURS.get(sev, _OTHER_COLOUR) for sev in series}
    for index in range(timeline.buckets):
        y = float(bottom)
        for severity, values in series.items():
            if not values[index]:
                continue
            height = (bottom - _TOP) * values[index] / peak
            y -= height
            body.append(
                f'<rect class="bar" data-severity="{escape(severity)}" '
                f'x="{_LEFT + width * index + 1:.1f}" y="{y:.1f}" '
                f'width="{max(width - 2, 1):.1f}" height="{height:.1f}" '
                f'fill="{colours[severity]}"><title>{escape(severity)} '
                f"{escape(timeline.label(index))}: {values[index]}</title></rect>"
            )
    return _svg("Errors over time per severity", body) + _legend(colours)


def _severity_badge(severity: str) -> str:
    colour = _SEVERITY_COLOURS.get(severity, _OTHER_COLOUR)
    return f'<span class="sev" style="background:{colour}">{escape(severity)}</span>'


def _table(ident: str, head: str, rows: list[str]) -> str:
    return (
        f'<table id="{ident}"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
    )


def _codes_table(report: Report, catalog: Catalog, top: int) -> str:
    rows = []
    for stats in report.top_codes(top):
        cells = (
            f"<td><code>{escape(stats.code)}</code></td>",
            f"<td>{_severity_badge(stats.severity)}</td>",
            f'<td class="n">{stats.count}</td>',
            f'<td class="n">{stats.handled}</td>',
            f"<td>{escape(stats.first_seen[:19])}</td>",
            f"<td>{escape(stats.last_seen[:19])}</td>",
            f"<td><code>{escape(stats.example_trace_id)}</code></td>",
            f'<td class="what">{escape(describe(stats, catalog))}</td>',
        )
        rows.append(f"<tr>{''.join(cells)}</tr>")
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "code",
            "severity",
            "count",
            "handled",
            "first seen (UTC)",
            "last seen (UTC)",
            "example trace id",
            "what",
        )
    )
    return _table("top-errors", head, rows)


def _endpoints_table(report: Report) -> str:
    rows = []
    for e in report.endpoints_by_rate():
        cells = (
            f"<td>{escape(e.service)}</td>",
            f"<td><code>{escape(e.endpoint)}</code></td>",
            f'<td class="n">{e.requests}</td>',
            f'<td class="n">{e.errors}</td>',
            f'<td class="n">{e.rate:.1%}</td>',
            f'<td><span class="ratebar" style="width:{round(e.rate * 120)}px"></span></td>',
        )
        rows.append(f"<tr>{''.join(cells)}</tr>")
    head = "".join(
        f"<th>{h}</th>" for h in ("service", "endpoint", "requests", "errors", "rate", "")
    )
    return _table("endpoints", head, rows)


def _releases_section(report: Report, catalog: Catalog) -> list[str]:
    """Fingerprints new or regressed per release (see ``report_releases``)."""
    rows = []
    for event in report.release_events():
        entry = catalog.get(event.code)
        cells = (
            f"<td>{escape(event.service)}</td>",
            f"<td>{escape(event.release)}</td>",
            f"<td>{escape(event.kind)}</td>",
            f"<td><code>{escape(event.fingerprint)}</code></td>",
            f"<td><code>{escape(event.code)}</code></td>",
            f"<td>{escape(event.first_seen[:19])}</td>",
            f'<td class="n">{event.count}</td>',
            f"<td><code>{escape(event.example_trace_id)}</code></td>",
            f'<td class="what">{escape(entry.title if entry else "")}</td>',
        )
        rows.append(f"<tr>{''.join(cells)}</tr>")
    if not rows:
        return []
    head = "".join(
        f"<th>{h}</th>"
        for h in ("service", "release", "", "fingerprint", "code", "since (UTC)", "count",
                  "example trace id", "what")
    )  # fmt: skip
    return ["<h2>New and regressed errors per release</h2>", _table("releases", head, rows)]


def _locals_section(report: Report, top: int) -> list[str]:
    """The latest ``error.locals`` of each top code, one list per frame."""
    blocks = []
    for stats in report.top_codes(top):
        if not stats.example_locals:
            continue
        frames = []
        for frame in stats.example_locals:
            rows = "".join(
                f"<tr><th><code>{escape(str(name))}</code></th>"
                f"<td><code>{escape(str(value))}</code></td></tr>"
                for name, value in frame["locals"].items()
            )
            frames.append(f"<h4>{escape(frame_heading(frame))}</h4><table>{rows}</table>")
        blocks.append(f"<h3><code>{escape(stats.code)}</code></h3>{''.join(frames)}")
    if not blocks:
        return []
    return [
        "<h2>Variables of the failing frames <small>(latest capture per code)</small></h2>",
        f'<section id="locals">{"".join(blocks)}</section>',
    ]


def render_html(report: Report, catalog: Catalog, directory: Path, top: int) -> str:
    """The whole page."""
    timeline, by_code, by_severity = _series(report)
    sections = [
        "<h2>Top errors</h2>",
        _codes_table(report, catalog, top) if report.codes else "<p>No errors recorded.</p>",
        "<h2>Error rate per endpoint</h2>",
        _endpoints_table(report) if report.endpoints else "<p>No server spans recorded.</p>",
        *_releases_section(report, catalog),
        *_locals_section(report, top),
    ]
    if timeline is not None:
        step = int(timeline.step.total_seconds())
        sections += [
            f"<h2>Errors over time per code <small>({step} s buckets)</small></h2>",
            f'<figure id="chart-codes">{_line_chart(timeline, by_code)}</figure>',
            f"<h2>Errors over time per severity <small>({step} s buckets)</small></h2>",
            f'<figure id="chart-severity">{_stacked_bars(timeline, by_severity)}</figure>',
        ]
    skipped = f", {report.skipped_lines} unreadable lines skipped" if report.skipped_lines else ""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="Content-Security-Policy" '
        "content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        f"<title>otel_errors report: {escape(str(directory))}</title>"
        f"<style>{_STYLE}</style></head><body>"
        "<h1>otel_errors report</h1>"
        f'<p class="meta">{escape(str(directory))}: {report.spans} spans, '
        f"{sum(s.count for s in report.codes.values())} errors{skipped}</p>"
        f"{''.join(sections)}</body></html>\n"
    )
