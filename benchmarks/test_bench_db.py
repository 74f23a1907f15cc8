"""Database success path: contrib's psycopg instrumentation alone vs contrib + otel_errors.

A ``SELECT 1`` on the PostgreSQL server of tests/servers.sh, through a cursor of a
connection made while contrib's ``PsycopgInstrumentor`` is on (so every call makes a
client span). The ``otel_errors`` side adds our pipeline (span processors, the SDK
patch) and ``PsycopgErrorsInstrumentor``, whose wrapper sits under contrib's span
(target: within 3% of vanilla; the query's round trip dominates both).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

import psycopg
import pytest
from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from otel_errors._internal.pipeline import sdk_patch
from otel_errors._internal.pipeline.setup import tracer_components
from otel_errors._internal.recording.runtime import current
from otel_errors.integrations.psycopg.instrumentor import PsycopgErrorsInstrumentor

DSN_VARIABLE = "OTEL_ERRORS_TEST_POSTGRES_DSN"


class DroppingExporter(SpanExporter):
    """Accepts and forgets every span, so only the in-process cost is measured."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def provider_for(side: str) -> TracerProvider:
    provider = TracerProvider()
    if side == "vanilla":
        provider.add_span_processor(BatchSpanProcessor(DroppingExporter()))
        return provider
    processors, export_processor = tracer_components(current().redactor)
    for processor in processors:
        provider.add_span_processor(processor)
    provider.add_span_processor(export_processor(DroppingExporter()))
    return provider


@pytest.fixture(scope="module")
def dsn() -> str:
    value = os.environ.get(DSN_VARIABLE, "")
    if not value:
        pytest.fail(
            f"{DSN_VARIABLE} is not set: start the servers with `bash tests/servers.sh start` "
            "and load .test-servers.env, or run `bash tests/run.sh`",
            pytrace=False,
        )
    return value


@pytest.fixture(params=["vanilla", "otel_errors"])
def side(request, dsn) -> Iterator[tuple[str, psycopg.Cursor]]:
    provider = provider_for(request.param)
    ours = PsycopgErrorsInstrumentor()
    if request.param == "vanilla":
        sdk_patch.uninstall()
    else:
        sdk_patch.install()
        ours.instrument()
    PsycopgInstrumentor().instrument(tracer_provider=provider)
    conn = psycopg.connect(dsn, autocommit=True)
    with conn.cursor() as cursor:
        yield request.param, cursor
    conn.close()
    PsycopgInstrumentor().uninstrument()
    if request.param == "otel_errors":
        ours.uninstrument()
    provider.shutdown()
    sdk_patch.uninstall()


@pytest.mark.postgres
def test_psycopg_select(benchmark, side):
    name, cursor = side
    benchmark.group = "d. psycopg SELECT 1 (contrib instrumentation)"
    benchmark.name = name

    def run() -> None:
        cursor.execute("SELECT 1")
        cursor.fetchone()

    benchmark(run)
    assert cursor.execute("SELECT 2").fetchone() == (2,)
