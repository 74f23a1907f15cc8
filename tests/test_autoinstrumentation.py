"""The Operator's Python auto-instrumentation image, without Docker: its install step and its use.

No Docker engine runs here, so the Dockerfile's one build step,
``collector-config/kubernetes/autoinstrumentation/install.sh``, installs into a
temporary directory (from the package registry, at the versions of
``tests/locks/dev.txt``), and an application runs as the OpenTelemetry Operator
starts it: its own Python (a fresh virtual environment with nothing installed) with
the ``PYTHONPATH`` and ``OTEL_*`` variables the Operator injects, exporting OTLP/HTTP
to a local receiver. What is not exercised: the image build itself, the Operator's
init container copying it, and an application Python that differs from the image's.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from _e2e_capture import OTLP_LOGS, CaptureServer
from _e2e_processes import wait_for
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

ROOT = Path(__file__).resolve().parent.parent
IMAGE = ROOT / "collector-config" / "kubernetes" / "autoinstrumentation"
pytestmark = pytest.mark.e2e

APP = textwrap.dedent("""
    from opentelemetry import trace

    tracer = trace.get_tracer("checkout")
    try:
        with tracer.start_as_current_span("charge card"):
            {}["card"]
    except KeyError:
        print("handled")
""")


@pytest.fixture(scope="module")
def autoinstrumentation(tmp_path_factory) -> Path:
    """The image's /autoinstrumentation, made by the Dockerfile's install step."""
    target = tmp_path_factory.mktemp("image") / "autoinstrumentation"
    result = subprocess.run(
        ["bash", str(IMAGE / "install.sh"), str(target)], capture_output=True, text=True,
        timeout=900, check=False, env={**os.environ, "PYTHON": sys.executable},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return target


def test_the_dockerfile_runs_the_tested_install_step():
    """The image is built by install.sh into /autoinstrumentation, copied into busybox."""
    dockerfile = (IMAGE / "Dockerfile").read_text()
    assert "collector-config/kubernetes/autoinstrumentation/install.sh" in dockerfile
    assert "/autoinstrumentation /src" in dockerfile
    assert "COPY --from=build /autoinstrumentation /autoinstrumentation" in dockerfile


def test_an_application_started_as_the_operator_does_records_with_otel_errors(
    autoinstrumentation, tmp_path
):
    """With the injected PYTHONPATH alone, otel_errors records the app's exception with a code."""
    app_python = tmp_path / "app-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(app_python)], check=True,
                   timeout=120)  # fmt: skip
    (tmp_path / "app.py").write_text(APP)
    receiver = CaptureServer(OTLP_LOGS)
    try:
        # what the Operator's Python injection sets (pkg/instrumentation/python.go)
        env = {
            "PATH": os.environ["PATH"],
            "PYTHONPATH": (
                f"{autoinstrumentation}/opentelemetry/instrumentation/auto_instrumentation"
                f":{autoinstrumentation}"
            ),
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_METRICS_EXPORTER": "otlp",
            "OTEL_LOGS_EXPORTER": "otlp",
            "OTEL_SERVICE_NAME": "checkout",
            "OTEL_RESOURCE_ATTRIBUTES": "k8s.namespace.name=shop,k8s.pod.name=checkout-1",
            "OTEL_PROPAGATORS": "tracecontext,baggage",
        }
        result = subprocess.run(
            [str(app_python / "bin" / "python"), str(tmp_path / "app.py")], env=env,
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr[-3000:]
        assert result.stdout.strip() == "handled"
        exports = wait_for(lambda: receiver.received("/v1/traces"), "the app's spans", 30)
    finally:
        receiver.close()
    request = ExportTraceServiceRequest()
    request.ParseFromString(exports[0].body)
    resource = {a.key: a.value.string_value for a in request.resource_spans[0].resource.attributes}
    assert resource["telemetry.distro.name"] == "otel_errors"
    assert resource["k8s.pod.name"] == "checkout-1"
    spans = [s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]
    events = [e for s in spans if s.name == "charge card" for e in s.events]
    attributes = {a.key: a.value for e in events if e.name == "exception" for a in e.attributes}
    assert attributes["exception.type"].string_value == "KeyError"
    assert attributes["error.code"].string_value  # classified by the distro, not left bare
    assert attributes["error.fingerprint"].string_value
