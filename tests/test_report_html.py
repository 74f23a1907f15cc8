"""``otel-errors report --html``: one self-contained page, escaped, that a browser draws.

The data are real spans written by the local exporter; the page is opened in headless
Chromium (Debian package ``chromium``, installed by ``.ci/run``), whose DOM and
screenshot are checked.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest
from _png import colours
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind

from otel_errors._internal.export.local import LocalSpanExporter
from otel_errors._internal.tooling.cli import main

HOSTILE_ROUTE = '/<script>alert("x")</script>'
MINUTE = 60 * 10**9


class _HostileError(Exception):
    """An exception type whose name reaches the page."""


def _serve(tracer, route: str, error: BaseException | None, at: int) -> None:
    with tracer.start_as_current_span(
        f"GET {route}",
        kind=SpanKind.SERVER,
        attributes={"http.route": route, "http.request.method": "GET"},
        start_time=at,
        end_on_exit=False,
    ) as span:
        if error is not None:
            try:
                raise error
            except Exception as exc:
                span.record_exception(exc, timestamp=at + 1000)
        span.set_attribute("http.response.status_code", 500 if error else 200)
        span.end(end_time=at + 2000)


@pytest.fixture
def data_dir(tmp_path) -> Path:
    """Twenty minutes of traffic: timeouts early, key errors late, one hostile route."""
    directory = tmp_path / "data"
    provider = TracerProvider(resource=Resource.create({"service.name": "shop<&>"}))
    provider.add_span_processor(SimpleSpanProcessor(LocalSpanExporter(directory)))
    tracer = provider.get_tracer("report-html-test")
    start = (time.time_ns() // MINUTE - 30) * MINUTE
    for minute in range(20):
        at = start + minute * MINUTE
        for _ in range(3 if minute < 10 else 1):
            _serve(tracer, "/orders", TimeoutError("slow"), at)
        _serve(tracer, "/orders", None, at)
        if minute >= 8:
            _serve(tracer, "/items/{id}", KeyError("k"), at)
        _serve(tracer, HOSTILE_ROUTE, _HostileError("<img src=x onerror=alert(1)>"), at)
    return directory


class _Elements(HTMLParser):
    """Tags and attributes of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _elements(page: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Elements()
    parser.feed(page)
    return parser.tags


def test_html_page_is_self_contained_and_escaped(data_dir, tmp_path, capsys):
    """No script, no external reference, every telemetry value escaped."""
    out = tmp_path / "report.html"
    assert main(["report", "--dir", str(data_dir), "--html", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    page = out.read_text(encoding="utf-8")
    tags = _elements(page)
    names = [tag for tag, _ in tags]
    assert "script" not in names
    assert "img" not in names
    assert "link" not in names
    for _, attrs in tags:
        for name, value in attrs.items():
            assert name not in {"src", "href"}
            assert not name.startswith("on")
            assert "http://" not in (value or "") or name == "xmlns"
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "shop&lt;&amp;&gt;" in page
    assert "<script>" not in page
    assert "default-src 'none'" in page
    # tables: 3 codes (timeouts, key errors, the hostile one), 3 endpoints
    assert names.count("tr") == 1 + 3 + 1 + 3
    assert sum(1 for tag, a in tags if tag == "polyline" and a.get("class") == "series") == 3
    assert {a.get("data-severity") for tag, a in tags if tag == "rect"} >= {"P3"}


def test_html_page_in_headless_chromium(data_dir, tmp_path):
    """Chromium builds the tables and charts, and the screenshot is not blank."""
    browser = shutil.which("chromium")
    if browser is None:
        pytest.skip("needs the Debian package chromium (.ci/run installs it)")
    out = tmp_path / "report.html"
    assert main(["report", "--dir", str(data_dir), "--html", str(out)]) == 0
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    flags.append(f"--user-data-dir={tmp_path / 'profile'}")
    dom = subprocess.run(
        [*flags, "--dump-dom", out.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert re.search(r'<table id="top-errors">.*?</table>', dom, re.DOTALL)
    assert len(re.findall(r"<tr>", dom)) == 8
    assert len(re.findall(r'<polyline class="series"', dom)) == 3
    assert len(re.findall(r'<rect class="bar"', dom)) >= 20
    assert "&lt;script&gt;" in dom

    shot = tmp_path / "report.png"
    subprocess.run(
        [*flags, f"--screenshot={shot}", "--window-size=1000,1300", out.as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert shot.stat().st_size > 10_000
    counts = colours(shot, step=3)
    total = sum(counts.values())
    background = max(counts.values())
    assert len(counts) > 30, "a drawn page has many colours (text, badges, bars)"
    assert background < 0.97 * total, "more than a blank page"
    severity_red = bytes.fromhex("f9a825")  # P3 bars and badges
    assert counts.get(severity_red, 0) > 20
