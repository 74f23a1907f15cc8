"""Shared fixtures: one global in-memory pipeline per session, cleared before each test.

The OpenTelemetry API lets a process set its global providers once, so the session
owns them; each test gets an empty span exporter and a fresh recorder.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
from opentelemetry import _logs, metrics, trace
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from otel_errors._internal.config.settings import Settings
from otel_errors._internal.pipeline import sdk_patch
from otel_errors._internal.pipeline.span_export import ExportSpanProcessor
from otel_errors._internal.recording import runtime
from otel_errors._internal.recording.recorder import ErrorRecorder

_EXPORTER = InMemorySpanExporter()
_PROVIDER = TracerProvider()
_PROVIDER.add_span_processor(ExportSpanProcessor(SimpleSpanProcessor(_EXPORTER)))
trace.set_tracer_provider(_PROVIDER)
_METRIC_READER = InMemoryMetricReader()
metrics.set_meter_provider(MeterProvider(metric_readers=[_METRIC_READER]))
_LOG_EXPORTER = InMemoryLogRecordExporter()
_LOGGER_PROVIDER = LoggerProvider()
_LOGGER_PROVIDER.add_log_record_processor(SimpleLogRecordProcessor(_LOG_EXPORTER))
_logs.set_logger_provider(_LOGGER_PROVIDER)


@pytest.fixture
def metric_points():
    """``(attributes, value)`` of each point of a metric (cumulative since the session began)."""

    def points(name: str, *, raw: bool = False, scope: str | None = None) -> list:
        data = _METRIC_READER.get_metrics_data()
        found = []
        for resource_metrics in data.resource_metrics if data else ():
            for scope_metrics in resource_metrics.scope_metrics:
                if scope is not None and scope_metrics.scope.name != scope:
                    continue
                for metric in scope_metrics.metrics:
                    if metric.name == name:
                        found += list(metric.data.data_points)
        return found if raw else [(dict(p.attributes), p.value) for p in found]

    return points


@pytest.fixture
def metric_data():
    """Collects the session's metrics as the SDK hands them to an exporter."""
    return _METRIC_READER.get_metrics_data


class Spans:
    """The spans finished during one test, with helpers to find exception events."""

    def __init__(self, exporter: InMemorySpanExporter) -> None:
        self._exporter = exporter

    def all(self) -> list[ReadableSpan]:
        return list(self._exporter.get_finished_spans())

    def named(self, name: str) -> ReadableSpan:
        matches = [s for s in self.all() if s.name == name]
        assert len(matches) == 1, [s.name for s in self.all()]
        return matches[0]

    def wait_for_kind(self, kind: SpanKind, count: int = 1, timeout: float = 5.0) -> None:
        """Waits until ``count`` spans of ``kind`` ended: servers answer before ending spans."""
        deadline = time.monotonic() + timeout
        while sum(s.kind is kind for s in self.all()) < count:
            assert time.monotonic() < deadline, [s.name for s in self.all()]
            time.sleep(0.01)

    def exception_events(self) -> list[dict[str, object]]:
        return [
            dict(e.attributes or {}) for s in self.all() for e in s.events if e.name == "exception"
        ]

    def only_exception(self) -> dict[str, object]:
        events = self.exception_events()
        assert len(events) == 1, [
            (s.name, s.context.trace_id, [e.attributes.get("error.code") for e in s.events])
            for s in self.all()
        ]
        return events[0]


@pytest.fixture(autouse=True)
def _patched_sdk() -> None:
    sdk_patch.install()


@pytest.fixture
def spans() -> Iterator[Spans]:
    _EXPORTER.clear()
    yield Spans(_EXPORTER)
    _EXPORTER.clear()


@pytest.fixture
def log_records() -> Iterator[InMemoryLogRecordExporter]:
    _LOG_EXPORTER.clear()
    yield _LOG_EXPORTER
    _LOG_EXPORTER.clear()


@pytest.fixture
def tracer() -> trace.Tracer:
    return _PROVIDER.get_tracer("tests")


@pytest.fixture
def use_settings() -> Iterator[object]:
    """Installs a runtime built from the given settings overrides for one test.

    It keeps the current registry and redactor (rules and declarations of the session).
    """
    previous = runtime.current()

    def install(**overrides: object) -> ErrorRecorder:
        new = runtime.Runtime(
            Settings.load(overrides, environ={}),
            registry=previous.registry,
            redactor=previous.redactor,
        )
        runtime.install(new)
        return new.recorder

    yield install
    runtime.install(previous)


@pytest.fixture
def fresh_registry() -> Iterator[object]:
    """A runtime with only the shipped defaults; rules added by the test vanish after it."""
    from otel_errors._internal.recording.registry import Registry

    previous = runtime.current()
    fresh = runtime.Runtime(previous.settings, registry=Registry(), redactor=previous.redactor)
    runtime.install(fresh)
    yield fresh.registry
    runtime.install(previous)


def _test_server(variable: str) -> str:
    """A test server's address from the environment; a clear failure when it is missing."""
    value = os.environ.get(variable, "")
    if not value:
        pytest.fail(
            f"{variable} is not set. Start the test servers with `bash tests/servers.sh start` "
            "and load their settings (`set -a; . ./.test-servers.env; set +a`), or run the "
            "whole suite with `bash tests/run.sh`.",
            pytrace=False,
        )
    return value


@pytest.fixture(scope="session")
def postgres_dsn() -> str:
    """DSN of the PostgreSQL server from tests/servers.sh (a superuser, trust auth)."""
    return _test_server("OTEL_ERRORS_TEST_POSTGRES_DSN")


@pytest.fixture(scope="session")
def redis_url() -> str:
    """URL of the Redis server from tests/servers.sh."""
    return _test_server("OTEL_ERRORS_TEST_REDIS_URL")


@pytest.fixture(scope="session")
def redis_replica_url() -> str:
    """URL of the read-only Redis replica of ``redis_url`` from tests/servers.sh."""
    return _test_server("OTEL_ERRORS_TEST_REDIS_REPLICA_URL")
