"""``otel-errors doctor`` in four real environments.

With and without the contrib instrumentations (fresh virtual environments from the
locked versions), each with the collector up (an OTLP/HTTP stand-in on 127.0.0.1)
and down (a closed port).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from _collector_standin import CollectorStandIn
from _venvs import locked_venv

REQUIREMENTS = {
    "bare": ["{root}", "flask", "requests"],
    "contrib": ["{root}[flask,requests]"],
}


@pytest.fixture(scope="module", params=sorted(REQUIREMENTS))
def environment(request):
    """``(name, python)`` of a fresh environment."""
    return request.param, locked_venv(f"doctor-{request.param}", REQUIREMENTS[request.param])


@pytest.fixture
def collector():
    standin = CollectorStandIn(grpc_receiver=False)
    yield standin
    standin.close()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nothing listens once the socket is closed


def _doctor(python, tmp_path, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PYTHON"))}
    env.update(HOME=str(tmp_path / "home"), XDG_STATE_HOME="", **extra)
    return subprocess.run(
        [str(python.parent / "otel-errors"), "doctor", "--timeout", "2"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )


def _libraries_line(out: str, name: str) -> str:
    (line,) = [ln for ln in out.splitlines() if ln.startswith(f"  {name} ")]
    return line


@pytest.mark.parametrize("collector_state", ["up", "down"])
def test_doctor(environment, collector_state, collector, tmp_path):
    """Libraries and both instrumentations, exporter, collector answer, files, catalogue."""
    name, python = environment
    endpoint = collector.http_endpoint
    if collector_state == "down":
        endpoint = f"http://127.0.0.1:{_closed_port()}"
    catalog = tmp_path / "errors.toml"
    catalog.write_text('[codes."SHOP-001"]\ntitle = "Product not found"\nhttp_status = 404\n')
    done = _doctor(
        python,
        tmp_path,
        OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
        OTEL_METRICS_EXPORTER="otel_errors_local",
        OTEL_ERRORS_LOCAL_DIR=str(tmp_path / "data"),
        OTEL_ERRORS_CATALOG=str(catalog),
    )
    out = done.stdout
    assert done.stderr == ""

    flask = _libraries_line(out, "flask")
    assert "ours otel_errors_flask: on" in flask
    assert "ours otel_errors_requests: on" in _libraries_line(out, "requests")
    if name == "contrib":
        assert re.search(r"contrib opentelemetry-instrumentation-flask \S+: on", flask)
    else:
        assert "contrib opentelemetry-instrumentation-flask: not installed" in flask
        assert "pip install 'otel-errors[flask]'" in flask
    assert re.search(r"not installed: .*django", out)

    assert re.search(rf"traces +otlp +{endpoint}/v1/traces \(http/protobuf\)", out)
    assert re.search(r"metrics +otel_errors_local +local JSON-lines files", out)
    if collector_state == "up":
        assert re.search(rf"collector {endpoint}/v1/traces: answers \(HTTP 200 in \d+ ms\)", out)
        assert collector.answers[("traces", "ok")] == 1
        assert done.returncode == 0, out
        assert "No problems found." in out
    else:
        assert f"collector {endpoint}/v1/traces: does not answer: " in out
        assert "Connection refused" in out
        assert done.returncode == 1
        assert "1 problem(s):" in out

    assert f"directory {tmp_path / 'data'} (from OTEL_ERRORS_LOCAL_DIR)" in out
    assert "not created yet" in out
    assert not (tmp_path / "data").exists()  # the doctor creates nothing
    assert f"{catalog}: loaded (1 new codes)" in out


def test_doctor_reports_a_bad_catalogue_and_bad_settings(tmp_path):
    """A broken catalogue file and an invalid setting are problems, with exit code 1."""
    python = Path(sys.executable)
    bad = tmp_path / "bad.toml"
    bad.write_text("[codes.\n")
    data = tmp_path / "data"
    data.mkdir()
    (data / "spans.jsonl").write_text("{}\n")
    done = _doctor(
        python,
        tmp_path,
        OTEL_ERRORS_CATALOG=str(bad),
        OTEL_ERRORS_LOCAL_DIR=str(data),
        OTEL_ERRORS_LOCAL_MAX_BYTES="lots",
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"{bad}: NOT LOADED" in done.stdout
    assert "OTEL_ERRORS_LOCAL_MAX_BYTES" in done.stdout
    assert "spans.jsonl: 3 bytes" in done.stdout
    assert "2 problem(s):" in done.stdout
