"""Three ways in, one pipeline: the launcher, ``import otel_errors.auto``, ``configure()``.

Each case runs a real subprocess (the providers are process-global) and checks the
pipeline it built and the JSON lines it wrote with the embedded default exporter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
SCRIPT = textwrap.dedent(
    """
    import json, sys
    modes = sys.argv[1].split("+")
    if "auto" in modes:
        import otel_errors.auto
    import otel_errors
    if "configure" in modes:
        otel_errors.configure()
    if "configure-again" in modes:
        otel_errors.configure(max_message_length=64)

    from opentelemetry import _logs, metrics, propagate, trace
    from opentelemetry.sdk.trace import Span

    tracer = trace.get_tracer("ways-in")
    try:
        with tracer.start_as_current_span("job"):
            raise TimeoutError("upstream slow")
    except TimeoutError:
        pass

    def describe(processor):
        exporter = getattr(processor, "span_exporter", None)
        names = []
        while exporter is not None:
            names.append(type(exporter).__name__)
            exporter = vars(exporter).get("exporter") if hasattr(exporter, "__dict__") else None
        return f"{type(processor).__name__}(" + "(".join(names) + ")" * len(names)

    provider = trace.get_tracer_provider()
    processors = provider._active_span_processor._span_processors
    print("PIPELINE", json.dumps({
        "tracer_provider": type(provider).__name__,
        "span_processors": [describe(p) for p in processors],
        "meter_provider": type(metrics.get_meter_provider()).__name__,
        "logger_provider": type(_logs.get_logger_provider()).__name__,
        "distro": provider.resource.attributes.get("telemetry.distro.name"),
        "service": provider.resource.attributes.get("service.name"),
        "record_exception_patched": hasattr(Span.record_exception, "__wrapped__"),
        "propagators": sorted(
            type(p).__name__ for p in propagate.get_global_textmap()._propagators
        ),
    }))
    """
)


def _clean_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(OTEL_SERVICE_NAME="ways-in", OTEL_ERRORS_LOCAL_DIR=str(data_dir), **extra)
    return env


def run(tmp_path: Path, modes: str, **env: str) -> tuple[dict[str, object], list[dict], str]:
    script = tmp_path / "job.py"
    script.write_text(SCRIPT)
    data = tmp_path / "data"
    command = [sys.executable, str(script), modes]
    if "launcher" in modes.split("+"):
        command = [str(BIN / "opentelemetry-instrument"), *command]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env=_clean_env(data, **env),
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    (line,) = [x for x in result.stdout.splitlines() if x.startswith("PIPELINE ")]
    pipeline = json.loads(line.removeprefix("PIPELINE "))
    spans_file = data / "spans.jsonl"
    spans = (
        [json.loads(line) for line in spans_file.read_text().splitlines()]
        if spans_file.exists()
        else []
    )
    return pipeline, spans, result.stderr


def exception_events(spans: list[dict]) -> list[dict]:
    return [e["attributes"] for s in spans for e in s["events"] if e["name"] == "exception"]


@pytest.mark.parametrize("modes", ["launcher", "auto", "configure"])
def test_each_way_in_builds_the_same_pipeline(tmp_path, modes):
    """Launcher, auto import and configure() give identical providers, exporters and patch."""
    pipeline, spans, stderr = run(tmp_path, modes)
    assert pipeline == {
        "tracer_provider": "TracerProvider",
        "span_processors": [
            "ExportSpanProcessor(RedactingSpanExporter(SpanExportGate(LocalSpanExporter)))"
        ],
        "meter_provider": "MeterProvider",
        "logger_provider": "LoggerProvider",
        "distro": "otel_errors",
        "service": "ways-in",
        "record_exception_patched": True,
        "propagators": ["TraceContextTextMapPropagator", "W3CBaggagePropagator"],
    }
    (event,) = exception_events(spans)
    assert event["error.code"] == "GEN-001"
    assert event["exception.message"] == "upstream slow"
    assert "Overriding of current" not in stderr


@pytest.mark.parametrize("modes", ["launcher+auto+configure", "auto+configure+configure-again"])
def test_combining_ways_in_is_idempotent(tmp_path, modes):
    """Using several ways in installs one provider and records each exception once."""
    pipeline, spans, stderr = run(tmp_path, modes)
    assert pipeline["span_processors"] == [
        "ExportSpanProcessor(RedactingSpanExporter(SpanExportGate(LocalSpanExporter)))"
    ]
    assert len(exception_events(spans)) == 1
    assert "Overriding of current" not in stderr
    if "configure-again" in modes:
        assert "already configured" in stderr


def test_otlp_endpoint_selects_otlp_exporters(tmp_path):
    """With an OTLP endpoint configured, the distro defaults to OTLP instead of local files."""
    pipeline, _, _ = run(
        tmp_path,
        "launcher",
        OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9",
        OTEL_BSP_EXPORT_TIMEOUT="200",
        OTEL_EXPORTER_OTLP_TIMEOUT="0.2",
    )
    assert (
        pipeline["span_processors"][-1]
        == "ExportSpanProcessor(RedactingSpanExporter(SpanExportGate(OTLPSpanExporter)))"
    )


def test_users_environment_wins_over_distro_defaults(tmp_path):
    """An explicit OTEL_TRACES_EXPORTER is kept as the user set it."""
    pipeline, _, _ = run(tmp_path, "launcher", OTEL_TRACES_EXPORTER="console")
    assert (
        pipeline["span_processors"][-1]
        == "ExportSpanProcessor(RedactingSpanExporter(SpanExportGate(ConsoleSpanExporter)))"
    )


def test_bad_setting_under_the_launcher_logs_one_error_and_runs(tmp_path):
    """The launcher never stops the application: one error names the variable and value."""
    pipeline, spans, stderr = run(tmp_path, "launcher", OTEL_ERRORS_MAX_MESSAGE_LENGTH="lots")
    assert "OTEL_ERRORS_MAX_MESSAGE_LENGTH='lots': expected integer >= 16" in stderr
    assert stderr.count("invalid configuration") == 1
    assert pipeline["record_exception_patched"] is True
    assert len(exception_events(spans)) == 1


def test_bad_setting_in_configure_raises_one_clear_error(tmp_path):
    """configure() raises ConfigurationError listing every bad variable."""
    script = tmp_path / "bad.py"
    script.write_text(
        "import otel_errors\n"
        "try:\n"
        "    otel_errors.configure(max_stacktrace_length=10)\n"
        "except otel_errors.ConfigurationError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        env=_clean_env(tmp_path, OTEL_ERRORS_ENABLED="maybe"),
        timeout=60,
        check=True,
    )
    assert result.stdout.strip() == (
        "invalid otel_errors configuration: OTEL_ERRORS_ENABLED='maybe': expected true or false; "
        "configure(max_stacktrace_length=10): expected integer >= 256"
    )


def test_broken_catalogue_is_reported_at_start_up(tmp_path):
    """A broken catalogue file fails configure() at once, naming the variable and file."""
    catalogue = tmp_path / "errors.toml"
    catalogue.write_text('[codes."SHOP-1"]\ntitle = "x"\n')
    script = tmp_path / "start.py"
    script.write_text(
        "import otel_errors\n"
        "try:\n"
        "    otel_errors.configure()\n"
        "except otel_errors.ConfigurationError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        env=_clean_env(tmp_path, OTEL_ERRORS_CATALOG=str(catalogue)),
        timeout=60,
        check=True,
    )
    assert f"OTEL_ERRORS_CATALOG='{catalogue}'" in result.stdout
    assert "malformed error code 'SHOP-1'" in result.stdout


def test_broken_catalogue_under_the_launcher_is_logged_at_start_up(tmp_path):
    """Under the launcher the same problem is one error line before any exception."""
    catalogue = tmp_path / "errors.toml"
    catalogue.write_text("not toml [")
    _, spans, stderr = run(tmp_path, "launcher", OTEL_ERRORS_CATALOG=str(catalogue))
    assert "is not valid TOML" in stderr
    assert len(exception_events(spans)) == 1


def test_app_error_with_a_code_missing_from_the_catalogue(tmp_path):
    """An AppError naming an undeclared code is reported by configure()."""
    script = tmp_path / "missing.py"
    script.write_text(
        "import otel_errors\n"
        "class Gone(otel_errors.AppError, code='APP-404'):\n"
        "    pass\n"
        "try:\n"
        "    otel_errors.configure()\n"
        "except otel_errors.ConfigurationError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        env=_clean_env(tmp_path),
        timeout=60,
        check=True,
    )
    assert (
        "codes missing from the error catalogue: APP-404 (used by __main__.Gone)" in result.stdout
    )


def test_disabled_keeps_the_plain_sdk_pipeline(tmp_path):
    """OTEL_ERRORS_ENABLED=false: providers still work, nothing of ours is added."""
    pipeline, spans, _ = run(tmp_path, "launcher", OTEL_ERRORS_ENABLED="false")
    assert pipeline["record_exception_patched"] is False
    (event,) = exception_events(spans)
    assert "error.code" not in event
