"""The exporting wrapper and SIGTERM flushing: what leaves the process, and when."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap

from opentelemetry.sdk.trace import Span, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_errors._internal.pipeline.span_export import ExportSpanProcessor


def test_error_type_overwritten_by_an_instrumentation_is_restored():
    """An instrumentation writing error.type="500" after us does not win at export."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(ExportSpanProcessor(SimpleSpanProcessor(exporter)))
    tracer = provider.get_tracer("t")
    try:
        with tracer.start_as_current_span("server") as span:
            try:
                raise TimeoutError
            finally:
                span.set_attribute("error.type", "500")  # what HTTP server instrumentations do
    except TimeoutError:
        pass
    with tracer.start_as_current_span("fine") as span:
        span.set_attribute("error.type", "500")
    server, fine = exporter.get_finished_spans()
    assert server.attributes["error.type"] == "GEN-001"
    assert fine.attributes["error.type"] == "500"


class _StartsNoted(SimpleSpanProcessor):
    """An exporting processor with an ``on_start`` of its own."""

    def __init__(self, exporter: InMemorySpanExporter) -> None:
        super().__init__(exporter)
        self.started: list[str] = []

    def on_start(self, span: Span, parent_context: object = None) -> None:  # noqa: ARG002 - the SDK signature
        self.started.append(span.name)


def test_a_downstream_on_start_of_its_own_is_called():
    """Only the SDK's no-op ``on_start`` is skipped: a processor that does something gets it."""
    downstream = _StartsNoted(InMemorySpanExporter())
    provider = TracerProvider()
    provider.add_span_processor(ExportSpanProcessor(downstream))
    with provider.get_tracer("t").start_as_current_span("noted"):
        pass
    assert downstream.started == ["noted"]


SIGTERM_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    import otel_errors
    {before}
    otel_errors.configure(local_dir=sys.argv[1], instrument=False)
    from opentelemetry import trace
    with trace.get_tracer("t").start_as_current_span("last words"):
        pass
    os.kill(os.getpid(), signal.SIGTERM)
    """
)


def _run(tmp_path, before: str = "") -> subprocess.CompletedProcess[str]:
    script = tmp_path / "term.py"
    script.write_text(SIGTERM_SCRIPT.format(before=before))
    return subprocess.run(
        [sys.executable, str(script), str(tmp_path / "data")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_sigterm_flushes_then_dies_by_the_signal(tmp_path):
    """Spans ended just before SIGTERM are exported; the exit status is still the signal's."""
    result = _run(tmp_path)
    assert result.returncode == -signal.SIGTERM
    assert "last words" in (tmp_path / "data" / "spans.jsonl").read_text()


def test_an_application_sigterm_handler_is_left_alone(tmp_path):
    """A handler the application installed first stays in charge."""
    result = _run(
        tmp_path,
        before="signal.signal(signal.SIGTERM, lambda *a: (print('app handler'), sys.exit(3)))",
    )
    assert result.returncode == 3
    assert "app handler" in result.stdout


def test_entry_checks_follow_local_roots():
    """The processor's identity checks for entry spans name the kinds of ENTRY_KINDS."""
    from otel_errors._internal.pipeline import span_export
    from otel_errors._internal.recording.local_roots import ENTRY_KINDS

    assert {span_export._SERVER, span_export._CONSUMER} == ENTRY_KINDS


RESOURCE_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from unittest import mock
    import otel_errors
    otel_errors.configure(local_dir=sys.argv[1], instrument=False)
    from opentelemetry import _logs, trace
    from opentelemetry.sdk import resources
    from opentelemetry.sdk.resources import Resource
    found = {}
    providers = {"tracer": trace.get_tracer_provider(), "logger": _logs.get_logger_provider()}
    for name, provider in providers.items():
        resource = provider.resource
        plain = Resource(resource.attributes, resource.schema_url)
        with mock.patch.object(resources, "dumps", wraps=resources.dumps) as dumps:
            hashes = {hash(resource) for _ in range(3)}
        found[name] = [hashes == {hash(plain)}, resource == plain, dumps.call_count]
        forked = resource.merge(Resource({"process.pid": 1}))
        with mock.patch.object(resources, "dumps", wraps=resources.dumps) as dumps:
            hash(forked), hash(forked)
        found[name].append(dumps.call_count)
    print(json.dumps(found))
    """
)


def test_the_providers_resource_hashes_once(tmp_path):
    """The resource serialises once for its hash, not at each span or record the encoders group.

    Equal to the SDK's resource and hashing the same, also once merged (as in a forked child).
    """
    script = tmp_path / "resource.py"
    script.write_text(RESOURCE_SCRIPT)
    result = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "data")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found == {"tracer": [True, True, 0, 0], "logger": [True, True, 0, 0]}
