"""Exception log records written by others (FastAPI, the SDK's handler) get our attributes."""

from __future__ import annotations

import inspect

import pytest
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

from otel_errors._internal.pipeline.log_export import ErrorsLogRecordProcessor

pytestmark = pytest.mark.skipif(
    "exception" not in inspect.signature(LogRecord.__init__).parameters,
    reason="log records carry the exception object from opentelemetry-api 1.45 on",
)


@pytest.fixture
def emit():
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(ErrorsLogRecordProcessor())
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = provider.get_logger("fastapi")

    def emit_and_collect(**kwargs):
        logger.emit(**kwargs)
        return [r.log_record for r in exporter.get_finished_logs()]

    return emit_and_collect


def _raised(exc):
    try:
        raise exc
    except Exception as caught:
        return caught


def test_exception_log_record_gets_codes(emit):
    """A record emitted with an exception gets error.* and our exception.* attributes."""
    (record,) = emit(
        event_name="http.server.request.exception",
        severity_number=SeverityNumber.ERROR,
        body="Unhandled exception in FastAPI request",
        attributes={"http.route": "/orders"},
        exception=_raised(ConnectionRefusedError("payments down")),
    )
    assert record.attributes["error.code"] == "NET-001"
    assert record.attributes["error.handled"] is False
    assert record.attributes["exception.type"] == "ConnectionRefusedError"
    assert record.attributes["http.route"] == "/orders"
    assert len(record.attributes["error.fingerprint"]) == 16


def test_records_below_error_are_handled_and_plain_records_untouched(emit):
    """A warning about an exception is handled; a record without one is left alone."""
    warned, plain = (
        emit(
            severity_number=SeverityNumber.WARN, body="retrying", exception=_raised(TimeoutError())
        )
        + emit(severity_number=SeverityNumber.INFO, body="ok")[1:]
    )
    assert warned.attributes["error.handled"] is True
    assert "error.code" not in (plain.attributes or {})
