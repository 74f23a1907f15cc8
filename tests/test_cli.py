"""The otel-errors command: local export and report, catalogue check and docs, settings."""

from __future__ import annotations

import inspect
import json
import re
import tempfile
from pathlib import Path

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind

import otel_errors
from otel_errors._internal.config.environment_variables import SETTINGS
from otel_errors._internal.config.settings import Settings
from otel_errors._internal.export.local import JsonLinesFile, LocalSpanExporter
from otel_errors._internal.tooling.cli import main, settings_table

ROOT = Path(__file__).resolve().parent.parent


def _serve(tracer, route: str, error: BaseException | None) -> None:
    with tracer.start_as_current_span(
        f"GET {route}",
        kind=SpanKind.SERVER,
        attributes={"http.route": route, "http.request.method": "GET"},
    ) as span:
        if error is None:
            span.set_attribute("http.response.status_code", 200)
            return
        try:
            raise error
        except Exception as exc:
            span.record_exception(exc)
            span.set_attribute("http.response.status_code", 500)


@pytest.fixture
def local_tracer(tmp_path):
    provider = TracerProvider(resource=Resource.create({"service.name": "shop"}))
    provider.add_span_processor(SimpleSpanProcessor(LocalSpanExporter(tmp_path)))
    return provider.get_tracer("report-test")


def test_report_lists_top_codes_and_endpoint_error_rates(tmp_path, local_tracer, capsys):
    """The report counts codes and rates per endpoint from the JSON lines."""
    for _ in range(3):
        _serve(local_tracer, "/orders", TimeoutError("slow"))
    _serve(local_tracer, "/orders", None)
    _serve(local_tracer, "/items", KeyError("k"))
    for _ in range(3):
        _serve(local_tracer, "/items", None)
    with (tmp_path / "spans.jsonl").open("a") as handle:
        handle.write("{not json\n")

    assert main(["report", "--dir", str(tmp_path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [(e["code"], e["count"], e["severity"]) for e in report["errors"]] == [
        ("GEN-001", 3, "P3"),
        ("BUG-003", 1, "P3"),
    ]
    assert len(report["errors"][0]["example_trace_id"]) == 32
    assert [(e["endpoint"], e["requests"], e["errors"]) for e in report["endpoints"]] == [
        ("GET /orders", 4, 3),
        ("GET /items", 4, 1),
    ]
    assert report["skipped_lines"] == 1

    assert main(["report", "--dir", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "Operation timed out (TimeoutError)" in text
    assert re.search(r"GET /orders\s+4\s+3\s+75.0%", text)


def test_report_on_a_missing_directory(tmp_path, capsys):
    """A missing data directory: where it looked, how to point elsewhere, exit code 2."""
    missing = tmp_path / "nope"
    assert main(["report", "--dir", str(missing)]) == 2
    err = capsys.readouterr().err
    assert f"Looked in {missing} (given with --dir): the directory does not exist" in err
    assert "--dir DIR" in err
    assert "OTEL_ERRORS_LOCAL_DIR=DIR" in err


def test_report_with_no_data_says_where_it_looked(tmp_path, monkeypatch, capsys):
    """An empty directory from OTEL_ERRORS_LOCAL_DIR, then the defaults: each is named."""
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "metrics.jsonl").write_text("{}\n")  # metrics alone: nothing the report reads
    monkeypatch.setenv("OTEL_ERRORS_LOCAL_DIR", str(empty))
    assert main(["report"]) == 2
    err = capsys.readouterr().err
    assert f"Looked in {empty} (from OTEL_ERRORS_LOCAL_DIR)" in err
    assert "has no spans.jsonl or logs.jsonl" in err
    assert "otel-errors report --dir DIR" in err

    monkeypatch.delenv("OTEL_ERRORS_LOCAL_DIR")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    assert main(["report"]) == 2
    err = capsys.readouterr().err
    assert "OTEL_ERRORS_LOCAL_DIR is unset" in err
    assert str(tmp_path / "state" / "otel-errors") in err
    assert str(tmp_path / "home" / ".local" / "state" / "otel-errors") in err

    (tmp_path / "home" / ".local" / "state" / "otel-errors").mkdir(parents=True)
    (tmp_path / "home" / ".local" / "state" / "otel-errors" / "spans.jsonl").write_text("")
    assert main(["report"]) == 0
    assert "No errors recorded." in capsys.readouterr().out


def test_local_files_rotate(tmp_path):
    """Past the size limit the file moves to .1 and a new one starts."""
    writer = JsonLinesFile(tmp_path / "spans.jsonl", max_bytes=100)
    writer.append([{"n": i, "pad": "x" * 40} for i in range(3)])
    writer.append([{"n": 3}])
    assert (tmp_path / "spans.jsonl.1").exists()
    assert (tmp_path / "spans.jsonl").read_text() == '{"n":3}\n'


CATALOG_V1 = """
[codes."PAY-001"]
title = "Payment provider unavailable"
category = "transient"
http_status = 503

[codes."PAY-002"]
title = "Card declined"
http_status = 402

[codes."PAY-003"]
title = "Card expired"
http_status = 402
"""


@pytest.mark.parametrize(
    ("edit", "breaking", "line"),
    [
        (lambda t: t.replace('[codes."PAY-003"]\ntitle = "Card expired"\nhttp_status = 402\n', ""),
         True, "PAY-003     removed"),
        (lambda t: t.replace('title = "Card declined"', 'title = "Fraud suspected"'),
         True, "re-purposed: title 'Card declined' -> 'Fraud suspected'"),
        (lambda t: t.replace('category = "transient"', 'category = "permanent"'),
         True, "re-purposed: category transient -> permanent"),
        (lambda t: t.replace('title = "Card declined"', 'title = "Card was declined"'),
         False, "reworded: title"),
        (lambda t: t + '\n[codes."PAY-004"]\ntitle = "New"\n', False, "PAY-004     added"),
    ],
)  # fmt: skip
def test_catalog_check(tmp_path, capsys, edit, breaking, line):
    """Removed or re-purposed codes fail the check; rewording and additions do not."""
    old, new = tmp_path / "old.toml", tmp_path / "new.toml"
    old.write_text(CATALOG_V1)
    new.write_text(edit(CATALOG_V1))
    assert main(["catalog", "check", str(old), str(new)]) == (1 if breaking else 0)
    assert line in capsys.readouterr().out


def test_catalog_check_with_a_broken_file(tmp_path, capsys):
    """An invalid file is exit code 2 with the file named."""
    old = tmp_path / "old.toml"
    old.write_text("nope [")
    assert main(["catalog", "check", str(old), str(old)]) == 2
    assert "old.toml is not valid TOML" in capsys.readouterr().err


def test_catalog_docs_render_markdown(capsys):
    """Docs list every shipped code and the example's codes, grouped by area."""
    catalog = ROOT / "examples" / "shop" / "errors.toml"
    assert main(["catalog", "docs", "--catalog", str(catalog)]) == 0
    text = capsys.readouterr().out
    assert "## PAY" in text
    assert "| `PAY-001` | Payment provider unavailable | P1 | transient |" in text
    assert "[runbook](https://runbooks.example.com/shop/pay-001)" in text
    assert "| `GEN-001` | Operation timed out |" in text


def test_readme_settings_table_is_generated_from_the_declarations():
    """The README table matches `otel-errors settings` exactly."""
    assert settings_table() in (ROOT / "README.md").read_text()


_SETTING_NAME = re.compile(r"\bOTEL_ERRORS_[A-Z0-9_]*[A-Z0-9]\b")
_SHIPPED = (
    "otel_errors/**/*.py",
    "collector-config/**/*",
    "examples/**/*",
    "tests/*.sh",
    "tests/parity/**/*.py",
    "benchmarks/*.py",
    ".ci/run",
)


def test_readme_table_documents_every_variable_the_repository_reads():
    """Package, collector configs, stack scripts, compose and test harness: one table."""
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## Settings") : readme.index("## Performance")]
    used: dict[str, Path] = {}
    for pattern in _SHIPPED:
        for path in ROOT.glob(pattern):
            if path.is_file() and path.suffix not in {".pyc", ".json"}:
                for name in _SETTING_NAME.findall(path.read_text(errors="replace")):
                    used.setdefault(name, path)
    assert len(used) > 60  # the globs still find the deployment
    missing = {name: str(path.relative_to(ROOT)) for name, path in used.items()}
    missing = {name: path for name, path in missing.items() if f"| `{name}` |" not in table}
    assert not missing, missing


def test_configure_mirrors_every_setting():
    """Each OTEL_ERRORS_* setting is a configure() keyword and a Settings field."""
    parameters = inspect.signature(otel_errors.configure).parameters
    for setting in SETTINGS:
        assert setting.keyword in parameters, setting.env
        assert setting.env.startswith("OTEL_ERRORS_")
    assert set(Settings.__dataclass_fields__) == {s.keyword for s in SETTINGS}
