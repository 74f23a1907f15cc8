"""Structured logs: the JSON fields, the level policy, the OTel handler, and install()."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap

import pytest
from opentelemetry._logs import SeverityNumber

from otel_errors._internal.recording import request_id
from otel_errors.logging import JsonFormatter, OtelLogHandler


def _record(logger_name: str, level: int, msg: str, *args, exc=None, **extra):
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    record = logging.LogRecord(logger_name, level, __file__, 1, msg, args, exc_info)
    record.__dict__.update(extra)
    return record


def _raised(exc: BaseException) -> BaseException:
    try:
        raise exc
    except BaseException as caught:
        return caught


def test_json_fields_inside_a_span_and_request(tracer):
    """Every DESIGN.md field is present, with ids from the span and the request."""
    formatter = JsonFormatter()
    rid, token = request_id.begin("req-7")
    try:
        with tracer.start_as_current_span("checkout") as span:
            line = formatter.format(
                _record("shop.payments", logging.ERROR, "charge %s failed", "order-1",
                        exc=_raised(PermissionError("denied")), order_id=42, user_id="u-1")
            )  # fmt: skip
    finally:
        request_id.end(token)
    fields = json.loads(line)
    assert set(fields) == {
        "timestamp", "service_name", "environment", "log_level", "error_code", "message",
        "stack_trace", "trace_id", "span_id", "request_id", "user_hash", "component", "context",
    }  # fmt: skip
    assert fields["timestamp"].endswith("Z")
    assert fields["message"] == "charge order-1 failed"
    assert (fields["error_code"], fields["log_level"]) == ("GEN-002", "ERROR")
    assert "PermissionError: denied" in fields["stack_trace"]
    assert fields["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert fields["span_id"] == format(span.get_span_context().span_id, "016x")
    assert (fields["request_id"], rid) == ("req-7", "req-7")
    assert fields["component"] == "shop.payments"
    assert fields["context"] == {"order_id": 42}
    assert "u-1" not in line


@pytest.mark.parametrize(
    ("level", "exc", "extra", "expected"),
    [
        (logging.ERROR, TimeoutError(), {}, "WARNING"),
        (logging.ERROR, KeyError("k"), {}, "ERROR"),
        (logging.ERROR, TimeoutError(), {"otel_errors_keep_level": True}, "ERROR"),
        (logging.CRITICAL, TimeoutError(), {}, "CRITICAL"),
        (logging.ERROR, None, {}, "ERROR"),
    ],
)
def test_level_policy_from_the_catalogue(level, exc, extra, expected):
    """Transient errors logged at ERROR become WARNING unless the application says otherwise."""
    exc = _raised(exc) if exc is not None else None
    line = JsonFormatter().format(_record("app", level, "failed", exc=exc, **extra))
    assert json.loads(line)["log_level"] == expected


def test_broken_percent_formatting_never_raises():
    """A message whose arguments do not fit its template is logged, not raised."""
    line = JsonFormatter().format(_record("app", logging.WARNING, "%d items", "many"))
    assert json.loads(line)["message"] == "%d items [unformattable arguments: str]"


def test_otel_handler_emits_the_same_fields(tracer, log_records):
    """The OTel log record has body, severity after policy, trace context and the fields."""
    handler = OtelLogHandler()
    with tracer.start_as_current_span("job") as span:
        handler.emit(
            _record(
                "worker", logging.ERROR, "retry later", exc=_raised(TimeoutError("slow")), attempt=3
            )
        )
    (readable,) = log_records.get_finished_logs()
    record = readable.log_record
    assert record.body == "retry later"
    assert (record.severity_number, record.severity_text) == (SeverityNumber.WARN, "WARN")
    assert record.trace_id == span.get_span_context().trace_id
    assert record.attributes["error_code"] == "GEN-001"
    assert record.attributes["component"] == "worker"
    assert record.attributes["context.attempt"] == 3
    assert "TimeoutError: slow" in record.attributes["stack_trace"]


def test_otel_handler_skips_its_own_loggers(log_records):
    """Records of opentelemetry.* and otel_errors loggers never enter the pipeline."""
    handler = OtelLogHandler()
    handler.emit(_record("opentelemetry.exporter", logging.ERROR, "export failed"))
    handler.emit(_record("otel_errors", logging.WARNING, "internal"))
    assert log_records.get_finished_logs() == ()


INSTALL_SCRIPT = textwrap.dedent(
    """
    import logging, logging.config, sys
    from otel_errors.logging import install, uninstall
    install(stream=sys.stdout)
    {configure}
    logging.getLogger("app").warning("hello %s", "world")
    logging.getLogger("app").info("details")
    print("ROOT", [type(h).__name__ for h in logging.getLogger().handlers])
    """
)


def _root(lines: list[str]) -> str:
    return next(line for line in lines if line.startswith("ROOT"))


def _run(configure: str) -> list[str]:
    script = INSTALL_SCRIPT.format(configure=configure)
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    return (result.stdout + result.stderr).splitlines()


def test_install_gives_json_console_logs_when_the_app_configures_none():
    """Without logging configuration, records come out as JSON lines."""
    lines = _run("")
    message = json.loads(next(line for line in lines if line.startswith("{")))
    assert (message["message"], message["log_level"]) == ("hello world", "WARNING")
    assert _root(lines) == "ROOT ['OtelLogHandler', 'StreamHandler']"


def test_basic_config_after_install_still_works():
    """A later basicConfig is no no-op: its level and format apply, ours steps aside."""
    lines = _run("logging.basicConfig(level=logging.INFO, format='%(levelname)s:%(message)s')")
    assert "WARNING:hello world" in lines
    assert "INFO:details" in lines
    assert not any(line.startswith("{") for line in lines)
    assert _root(lines) == "ROOT ['StreamHandler', 'OtelLogHandler']"


def test_dict_config_keeps_the_otel_handler():
    """A dictConfig replacing the root handlers keeps ours: the OTel handler is put back."""
    lines = _run(
        "logging.config.dictConfig({'version': 1, 'handlers': {'h': {'class': "
        "'logging.StreamHandler', 'stream': 'ext://sys.stdout'}}, 'root': {'handlers': ['h']}})"
    )
    assert "hello world" in lines
    assert _root(lines) == "ROOT ['StreamHandler', 'OtelLogHandler']"


def test_uninstall_restores_logging():
    """Uninstalling removes our handlers and the configuration wrappers."""
    lines = _run("uninstall(); print('BASIC', logging.basicConfig.__module__)")
    assert "BASIC logging" in lines
    assert _root(lines) == "ROOT []"


PLAIN_SCRIPT = textwrap.dedent(
    """
    import logging, sys
    if sys.argv[1] == "ours":
        from otel_errors.logging import install
        install(console=False)
    logging.getLogger("app").warning("hello %s", "world")
    logging.getLogger("app").info("details")
    logging.getLogger("otel_errors").warning("a setting is wrong")
    logging.getLogger("quiet").propagate = False
    logging.getLogger("quiet").error("no handler here either")
    """
)


def test_without_json_console_logs_the_console_is_the_application_s():
    """The OTel handler alone on the root does not silence Python's last-resort output."""
    outputs = [
        subprocess.run(
            [sys.executable, "-c", PLAIN_SCRIPT, way],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        for way in ("vanilla", "ours")
    ]
    assert outputs[0].stderr == "hello world\na setting is wrong\nno handler here either\n"
    assert (outputs[1].stdout, outputs[1].stderr) == (outputs[0].stdout, outputs[0].stderr)
