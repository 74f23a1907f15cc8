"""collector-config/stack.sh: the whole stack from the cached binaries, up, wired, and down.

Jaeger, the collectors, Prometheus and Alertmanager are the real binaries, moved to
free loopback ports through the variables stack.sh documents. Loki and Grafana cannot
run here: two small stand-in executables (``LOKI_BIN``, ``GRAFANA_BIN``) record the
arguments and environment stack.sh starts them with and answer their health checks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from _e2e_processes import free_port, get_json, http_get, wait_for

ROOT = Path(__file__).resolve().parent.parent
STACK = ROOT / "collector-config" / "stack.sh"
pytestmark = pytest.mark.e2e

STAND_IN = """#!{python}
# Stand-in for {name}: records how it was started, answers {path} on ${port_variable}.
import json, os, sys
from http.server import BaseHTTPRequestHandler, HTTPServer

with open({record!r}, "w") as out:
    json.dump({{"argv": sys.argv[1:], "env": dict(os.environ)}}, out)

class Health(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == {path!r} else 404)
        self.end_headers()

    def do_POST(self):
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass

HTTPServer(("127.0.0.1", int(os.environ[{port_variable!r}])), Health).serve_forever()
"""


def _stand_in(directory: Path, name: str, path: str, port_variable: str) -> tuple[Path, Path]:
    executable, record = directory / name, directory / f"{name}.json"
    script = STAND_IN.format(
        python=sys.executable, name=name, path=path, port_variable=port_variable,
        record=str(record),
    )  # fmt: skip
    executable.write_text(script)
    executable.chmod(0o755)
    return executable, record


def _stack(env: dict[str, str], command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(STACK), command], env=env, capture_output=True, text=True, timeout=600,
        check=False,
    )  # fmt: skip


@pytest.fixture
def stack_env(tmp_path) -> Iterator[dict[str, str]]:
    """stack.sh's environment: every address a free port, state in a temporary directory."""
    loki, loki_record = _stand_in(tmp_path, "loki", "/ready", "LOKI_HTTP_PORT")
    grafana, grafana_record = _stand_in(tmp_path, "grafana", "/api/health", "GF_SERVER_HTTP_PORT")
    addresses = [
        "OTEL_ERRORS_AGENT_GRPC_ADDR", "OTEL_ERRORS_AGENT_HTTP_ADDR",
        "OTEL_ERRORS_AGENT_HEALTH_ADDR",
        "OTEL_ERRORS_GATEWAY_GRPC_ADDR", "OTEL_ERRORS_GATEWAY_HTTP_ADDR",
        "OTEL_ERRORS_GATEWAY_HEALTH_ADDR", "OTEL_ERRORS_PROMETHEUS_EXPORTER_ADDR",
        "JAEGER_OTLP_GRPC_ADDR", "JAEGER_OTLP_HTTP_ADDR", "JAEGER_QUERY_HTTP_ADDR",
        "JAEGER_QUERY_GRPC_ADDR", "JAEGER_HEALTH_ADDR", "OTEL_ERRORS_STACK_PROMETHEUS_ADDR",
        "OTEL_ERRORS_STACK_ALERTMANAGER_ADDR", "OTEL_ERRORS_STACK_GRAFANA_ADDR",
    ]  # fmt: skip
    ports = ["OTEL_ERRORS_AGENT_TELEMETRY_PORT", "OTEL_ERRORS_GATEWAY_TELEMETRY_PORT",
             "JAEGER_TELEMETRY_PORT", "LOKI_HTTP_PORT", "LOKI_GRPC_PORT"]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "JAEGER_", "LOKI_"))}
    env.update({name: f"127.0.0.1:{free_port()}" for name in addresses})
    env.update({name: str(free_port()) for name in ports})
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        OTEL_ERRORS_STACK_DIR=str(tmp_path / "stack"),
        OTEL_ERRORS_CATALOG=str(ROOT / "examples" / "shop" / "errors.toml"),
        OTEL_ERRORS_SLACK_WEBHOOK_URL="http://127.0.0.1:9/services/T0/B0/stack",
        LOKI_BIN=str(loki),
        GRAFANA_BIN=str(grafana),
        GRAFANA_HOME=str(tmp_path),
        STAND_IN_RECORDS=f"{loki_record}{os.pathsep}{grafana_record}",
    )
    try:
        yield env
    finally:
        _stack(env, "down")


def _pids(env: dict[str, str]) -> dict[str, int]:
    run = Path(env["OTEL_ERRORS_STACK_DIR"]) / "run"
    return {p.stem: int(p.read_text().split()[0]) for p in run.glob("*.pid")}


def _alive(pid: int) -> bool:
    """Whether the process runs (a zombie waiting for init to reap it does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _send_error_span(env: dict[str, str]) -> str:
    """One error span over OTLP/HTTP JSON to the agent; returns its trace id."""
    trace_id = os.urandom(16).hex()
    now = time.time_ns()
    span = {
        "traceId": trace_id, "spanId": os.urandom(8).hex(), "name": "GET /orders/{id}",
        "kind": 2, "startTimeUnixNano": str(now - 1_000_000), "endTimeUnixNano": str(now),
        "status": {"code": 2},
        "attributes": [{"key": "http.route", "value": {"stringValue": "/orders/{id}"}}],
    }  # fmt: skip
    body = {"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "stack"}}]},
        "scopeSpans": [{"scope": {"name": "test"}, "spans": [span]}],
    }]}  # fmt: skip
    result = subprocess.run(
        ["curl", "-fsS", "-H", "Content-Type: application/json", "--data-binary", json.dumps(body),
         f"http://{env['OTEL_ERRORS_AGENT_HTTP_ADDR']}/v1/traces"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return trace_id


def _check_wiring(env: dict[str, str]) -> None:
    """Agent -> gateway -> Jaeger; Prometheus with the catalogue's rules and its targets."""
    trace_id = _send_error_span(env)
    jaeger = f"http://{env['JAEGER_QUERY_HTTP_ADDR']}/api/traces/{trace_id}"
    wait_for(lambda: http_get(jaeger)[0] == 200, "the error span in Jaeger", 60)
    prometheus = f"http://{env['OTEL_ERRORS_STACK_PROMETHEUS_ADDR']}"
    rules = get_json(f"{prometheus}/api/v1/rules")["data"]["groups"]
    assert "OtelErrors_PAY_001" in {r["name"] for g in rules for r in g["rules"]}
    targets = get_json(f"{prometheus}/api/v1/targets")["data"]["activeTargets"]
    scraped = {t["scrapeUrl"] for t in targets}
    assert f"http://{env['OTEL_ERRORS_PROMETHEUS_EXPORTER_ADDR']}/metrics" in scraped
    alertmanager = env["OTEL_ERRORS_STACK_ALERTMANAGER_ADDR"]

    def known() -> bool:
        found = get_json(f"{prometheus}/api/v1/alertmanagers")["data"]["activeAlertmanagers"]
        return any(alertmanager in a["url"] for a in found)

    wait_for(known, "Prometheus to find Alertmanager", 30)


def _check_alertmanager(env: dict[str, str]) -> None:
    """The shipped routing, with only the integration that has a destination (Slack)."""
    status = get_json(f"http://{env['OTEL_ERRORS_STACK_ALERTMANAGER_ADDR']}/api/v2/status")
    config = yaml.safe_load(status["config"]["original"])
    integrations = {r["name"]: sorted(k for k in r if k.endswith("_configs"))
                    for r in config["receivers"]}  # fmt: skip
    assert integrations == {"unrouted": ["slack_configs"], "deadmansswitch": [], "p1-page": [],
                            "p2-page": [], "p3-notify": ["slack_configs"],
                            "p4-daily-digest": []}  # fmt: skip
    shipped = yaml.safe_load((ROOT / "collector-config/alertmanager/alertmanager.yml").read_text())
    rendered_file = Path(env["OTEL_ERRORS_STACK_DIR"]) / "config/alertmanager/alertmanager.yml"
    rendered = yaml.safe_load(rendered_file.read_text())
    assert rendered["route"] == shipped["route"]
    assert rendered["inhibit_rules"] == shipped["inhibit_rules"]
    secret = Path(env["OTEL_ERRORS_STACK_DIR"]) / "secrets" / "slack-webhook-url"
    assert secret.read_text() == env["OTEL_ERRORS_SLACK_WEBHOOK_URL"]
    assert secret.stat().st_mode & 0o077 == 0
    assert env["OTEL_ERRORS_SLACK_WEBHOOK_URL"] not in json.dumps(config)


def _check_stand_ins(env: dict[str, str]) -> None:
    """Loki and Grafana were started with the shipped configs and this stack's addresses."""
    loki_record, grafana_record = env["STAND_IN_RECORDS"].split(os.pathsep)
    loki = json.loads(Path(loki_record).read_text())
    assert loki["argv"] == [f"-config.file={ROOT / 'collector-config' / 'loki' / 'config.yaml'}",
                            "-config.expand-env=true"]  # fmt: skip
    assert loki["env"]["LOKI_HTTP_PORT"] == env["LOKI_HTTP_PORT"]
    grafana = json.loads(Path(grafana_record).read_text())
    assert grafana["argv"][0] == "server"
    assert grafana["env"]["PROMETHEUS_URL"] == f"http://{env['OTEL_ERRORS_STACK_PROMETHEUS_ADDR']}"
    assert grafana["env"]["JAEGER_URL"] == f"http://{env['JAEGER_QUERY_HTTP_ADDR']}"
    assert grafana["env"]["LOKI_URL"] == f"http://127.0.0.1:{env['LOKI_HTTP_PORT']}"
    provisioning = Path(grafana["env"]["GF_PATHS_PROVISIONING"])
    provider = yaml.safe_load((provisioning / "dashboards" / "otel-errors.yaml").read_text())
    dashboards = Path(provider["providers"][0]["options"]["path"])
    assert (dashboards / "otel-errors.json").is_file()
    assert (provisioning / "datasources" / "otel-errors.yaml").is_file()


def test_stack_script_runs_the_stack_and_stops_it(stack_env):
    """Up starts every service healthy and wired together; status says so; down stops all."""
    env = stack_env
    up = _stack(env, "up")
    assert up.returncode == 0, up.stdout + up.stderr
    assert f"http://{env['OTEL_ERRORS_AGENT_HTTP_ADDR']}" in up.stdout
    status = _stack(env, "status")
    assert status.returncode == 0, status.stdout + status.stderr
    lines = status.stdout.splitlines()
    assert [line.split()[0] for line in lines] == [
        "jaeger", "loki", "gateway", "agent", "alertmanager", "prometheus", "grafana"
    ]  # fmt: skip
    assert all(line.split()[1] == "healthy" for line in lines), status.stdout
    pids = _pids(env)
    assert len(pids) == 7
    assert all(_alive(pid) for pid in pids.values())
    again = _stack(env, "up")  # leaves the running stack alone
    assert again.returncode == 0, again.stderr
    assert _pids(env) == pids

    _check_wiring(env)
    _check_alertmanager(env)
    _check_stand_ins(env)

    down = _stack(env, "down")
    assert down.returncode == 0, down.stderr
    assert not [name for name, pid in pids.items() if _alive(pid)]
    assert _pids(env) == {}
    stopped = _stack(env, "status")
    assert stopped.returncode == 3
    assert all(line.split()[1] == "stopped" for line in stopped.stdout.splitlines())
