"""The collector stand-in answers the real OTLP exporters as each of its modes promises."""

from __future__ import annotations

import time

import pytest
from _collector_standin import CollectorStandIn
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpSpanExporter,
)
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExportResult


@pytest.fixture
def standin():
    server = CollectorStandIn()
    yield server
    server.close()


def _one_span(name: str):
    provider = TracerProvider()
    with provider.get_tracer("t").start_as_current_span(name) as span:
        pass
    provider.shutdown()
    return span


def _exporter(standin: CollectorStandIn, protocol: str, timeout: float = 2.0):
    if protocol == "grpc":
        return GrpcSpanExporter(endpoint=standin.grpc_endpoint, insecure=True, timeout=timeout)
    return HttpSpanExporter(endpoint=standin.http_endpoint + "/v1/traces", timeout=timeout)


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_accepts_and_keeps_spans_when_ok(standin, protocol):
    """In mode ok a span exported over HTTP or gRPC arrives decoded."""
    exporter = _exporter(standin, protocol)
    assert exporter.export([_one_span("kept")]) is SpanExportResult.SUCCESS
    exporter.shutdown()
    assert [s.name for s in standin.spans()] == ["kept"]
    assert standin.answers["traces", "ok"] == 1


@pytest.mark.parametrize("protocol", ["http", "grpc"])
@pytest.mark.parametrize("mode", ["throttle", "unavailable", "drop"])
def test_refusing_modes_fail_the_export_and_keep_nothing(standin, protocol, mode):
    """429, 503 and dropped connections fail the export; nothing is kept."""
    standin.mode = mode
    exporter = _exporter(standin, protocol, timeout=1.0)
    assert exporter.export([_one_span("refused")]) is SpanExportResult.FAILURE
    exporter.shutdown()
    assert standin.spans() == []
    assert standin.answers["traces", mode] >= 1


def test_slow_mode_delays_the_answer(standin):
    """A slow stand-in answers after its delay and still keeps the span."""
    standin.mode, standin.delay = "slow", 0.5
    exporter = _exporter(standin, "http", timeout=5.0)
    started = time.monotonic()
    assert exporter.export([_one_span("late")]) is SpanExportResult.SUCCESS
    assert time.monotonic() - started >= 0.5
    exporter.shutdown()


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_down_refuses_connections_and_up_recovers(standin, protocol):
    """Down means a refused connection; after up the same endpoint accepts again."""
    standin.down()
    refused = _exporter(standin, protocol, timeout=1.0)
    assert refused.export([_one_span("lost")]) is SpanExportResult.FAILURE
    refused.shutdown()
    standin.up()
    exporter = _exporter(standin, protocol, timeout=10.0)
    assert exporter.export([_one_span("after")]) is SpanExportResult.SUCCESS
    exporter.shutdown()
    assert [s.name for s in standin.spans()] == ["after"]


def test_an_unknown_mode_is_refused(standin):
    """A typo in a test's mode is an error, not a silent ok."""
    with pytest.raises(ValueError, match="mode must be one of"):
        standin.mode = "flaky"


def test_a_stand_in_that_keeps_nothing_still_accepts_and_counts():
    """With keep=False every request is answered and counted but nothing is stored."""
    server = CollectorStandIn(keep=False)
    try:
        exporter = _exporter(server, "http")
        assert exporter.export([_one_span("counted")]) is SpanExportResult.SUCCESS
        exporter.shutdown()
        assert server.answers["traces", "ok"] == 1
        assert server.spans() == []
    finally:
        server.close()
