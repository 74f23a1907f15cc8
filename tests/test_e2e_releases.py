"""End to end: new and regressed errors per release, through the real gateway and backends.

``examples/releases/worker.py`` runs under the launcher with OTLP to the real gateway
collector (``otelcol/gateway.yaml``), whose Prometheus exporter the real Prometheus
scrapes every second with the rules ``otel-errors alerts rules`` generates for the
example's catalogue; alerts go to the real Alertmanager with the shipped routing
(``_e2e_alertmanager``) and PagerDuty, Slack, the SMS relay and the mail relay are
local capture servers. What is shortened, and only here: the release rules' windows
(seconds instead of days, through ``ReleaseWindows``), the evaluation and scrape
intervals, the SDK's export intervals and Alertmanager's waits.

Release 1.0 fails ``checkout`` all along and ``export`` for its first seconds, and is
stopped; release 1.1 fails ``checkout``, ``export`` (back after an absence longer than
the absence window) and ``import`` (never seen). Exactly one "new" page (``import``)
and one "regression" page (``export``) must arrive, none for ``checkout``, which both
releases share, and none for 1.0's own failures: the service's fingerprint scheme was
new then (the first deployment is quiet, as after a change of the fingerprint scheme).
Jaeger and Loki are not needed here (the gateway's exporters to them retry meanwhile).
"""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from _e2e_alertmanager import write_alertmanager_config
from _e2e_capture import OTLP_LOGS, PAGERDUTY, SLACK, WEBHOOK, CaptureServer, SmtpCapture
from _e2e_processes import Services, free_port, get_json, services, wait_for

from otel_errors._internal.recording.registry import Registry
from otel_errors._internal.tooling.alert_policy import AlertPolicy, ReleaseWindows
from otel_errors._internal.tooling.alert_rules import rules_document

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "collector-config"
EXAMPLE = ROOT / "examples" / "releases"
BIN = Path(sys.executable).parent
pytestmark = pytest.mark.e2e

SERVICE, ENVIRONMENT = "jobs", "e2e"
WINDOWS = ReleaseWindows(
    interval="1s", active="5s", offset="5s", lookback="10m", absence="20s", settle="20s"
)
EXPORT_STOPS = 8.0
"""Seconds into release 1.0's run after which ``export`` no longer fails."""
ABSENT_FOR = 40.0
"""Seconds release 1.0 runs after the first export failure is seen: past the absence window."""


@dataclass
class Stack:
    """The running gateway, Prometheus and Alertmanager, and the capture servers."""

    ports: dict[str, int]
    services: Services
    captures: dict[str, CaptureServer]

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def query(self, expr: str) -> list[dict[str, Any]]:
        query = urllib.parse.urlencode({"query": expr})
        answer = get_json(f"{self.url('prometheus')}/api/v1/query?{query}")
        return list(answer["data"]["result"])

    def release_pages(self) -> list[dict[str, Any]]:
        """PagerDuty trigger events of new and regressed errors."""
        return [
            page
            for page in (c.json() for c in self.captures["pagerduty"].received("/v2/enqueue"))
            if page["event_action"] == "trigger"
            and any(w in page["payload"]["summary"] for w in ("New error", "Regression"))
        ]


@pytest.fixture(scope="module")
def binaries() -> dict[str, str]:
    result = subprocess.run(
        ["bash", str(DEPLOY / "build.sh"), "prometheus", "alertmanager", "collector"],
        capture_output=True, text=True, timeout=3600, check=False,
    )  # fmt: skip
    assert result.returncode == 0, f"collector-config/build.sh failed:\n{result.stderr[-3000:]}"
    return dict(line.split("=", 1) for line in result.stdout.split())


def _clean_env() -> dict[str, str]:
    prefixes = ("OTEL_", "JAEGER_", "LOKI_", "JOBS_")
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}


def _prometheus_config(directory: Path, ports: dict[str, int]) -> Path:
    """The shipped config's gateway job, every second, with the example's generated rules."""
    registry = Registry()
    registry.load_files([str(EXAMPLE / "errors.toml")])
    rules = directory / "rules.yml"
    document = rules_document(registry.catalog, AlertPolicy(releases=WINDOWS))
    rules.write_text(yaml.safe_dump(document, sort_keys=False))
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    config["rule_files"] = [str(rules)]
    config["alerting"]["alertmanagers"] = [
        {"static_configs": [{"targets": [f"127.0.0.1:{ports['alertmanager']}"]}]}
    ]
    (gateway,) = [j for j in config["scrape_configs"] if j["job_name"] == "otel-errors-gateway"]
    gateway.update(
        scrape_interval="1s", static_configs=[{"targets": [f"127.0.0.1:{ports['exporter']}"]}]
    )
    config["scrape_configs"] = [gateway]
    path = directory / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def stack(binaries, tmp_path_factory) -> Iterator[Stack]:
    directory = tmp_path_factory.mktemp("releases")
    names = ("grpc", "http", "health", "telemetry", "exporter", "jaeger", "prometheus",
             "alertmanager", "smtp")  # fmt: skip
    ports = {name: free_port() for name in names}
    replies = {"pagerduty": PAGERDUTY, "slack": SLACK, "sms": WEBHOOK,
               "deadmansswitch": WEBHOOK, "loki": OTLP_LOGS}  # fmt: skip
    captures = {name: CaptureServer(reply) for name, reply in replies.items()}
    smtp = SmtpCapture(ports["smtp"])
    try:
        alertmanager_yml = write_alertmanager_config(
            directory, {n: c.url for n, c in captures.items()}, ports["smtp"]
        )
        prometheus_yml = _prometheus_config(directory, ports)
        gateway_env = {
            **_clean_env(),
            "OTEL_ERRORS_QUEUE_DIR": str(directory / "queue"),
            "OTEL_ERRORS_GATEWAY_GRPC_ADDR": f"127.0.0.1:{ports['grpc']}",
            "OTEL_ERRORS_GATEWAY_HTTP_ADDR": f"127.0.0.1:{ports['http']}",
            "OTEL_ERRORS_GATEWAY_HEALTH_ADDR": f"127.0.0.1:{ports['health']}",
            "OTEL_ERRORS_GATEWAY_TELEMETRY_PORT": str(ports["telemetry"]),
            "OTEL_ERRORS_PROMETHEUS_EXPORTER_ADDR": f"127.0.0.1:{ports['exporter']}",
            "JAEGER_OTLP_ENDPOINT": f"127.0.0.1:{ports['jaeger']}",
            "LOKI_OTLP_ENDPOINT": f"{captures['loki'].url}/otlp",
        }
        with services(directory) as started:
            gateway = started.start(
                "gateway",
                [binaries["OTELCOL_BIN"], f"--config={DEPLOY / 'otelcol' / 'gateway.yaml'}"],
                gateway_env,
            )
            alertmanager = started.start("alertmanager", [
                binaries["ALERTMANAGER_BIN"], f"--config.file={alertmanager_yml}",
                f"--storage.path={directory / 'alertmanager-data'}",
                f"--web.listen-address=127.0.0.1:{ports['alertmanager']}",
                "--cluster.listen-address=",
            ], _clean_env())  # fmt: skip
            prometheus = started.start("prometheus", [
                binaries["PROMETHEUS_BIN"], f"--config.file={prometheus_yml}",
                f"--storage.tsdb.path={directory / 'prometheus-data'}",
                f"--web.listen-address=127.0.0.1:{ports['prometheus']}",
            ], _clean_env())  # fmt: skip
            started.wait_healthy(gateway, f"http://127.0.0.1:{ports['health']}/")
            started.wait_healthy(alertmanager, f"http://127.0.0.1:{ports['alertmanager']}/-/ready")
            started.wait_healthy(prometheus, f"http://127.0.0.1:{ports['prometheus']}/-/ready")
            yield Stack(ports, started, captures)
    finally:
        smtp.close()
        for capture in captures.values():
            capture.close()


def _release(stack: Stack, version: str, failing: str) -> Any:
    env = {
        **_clean_env(),
        "OTEL_SERVICE_NAME": SERVICE,
        "OTEL_RESOURCE_ATTRIBUTES": (
            f"service.version={version},deployment.environment.name={ENVIRONMENT}"
        ),
        "OTEL_EXPORTER_OTLP_ENDPOINT": stack.url("http"),
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_METRIC_EXPORT_INTERVAL": "1000",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "OTEL_ERRORS_CATALOG": str(EXAMPLE / "errors.toml"),
        "JOBS_FAILING": failing,
    }
    argv = [str(BIN / "opentelemetry-instrument"), sys.executable, str(EXAMPLE / "worker.py")]
    return stack.services.start(f"jobs-{version}", argv, env)


def _failing_codes(stack: Stack, version: str) -> set[str]:
    """Codes whose fingerprints Prometheus has seen rise in ``version``."""
    active = stack.query(f'otel_errors:fingerprint_active{{service_version="{version}"}}')
    return {series["metric"]["error_code"] for series in active}


def test_one_new_and_one_regression_page_for_release_1_1(stack):
    """1.1 brings JOB-003 (new) and JOB-002 back (regression): one page each, nothing else."""
    details = stack.services.logs
    release_1_0 = _release(stack, "1.0", f"checkout,export@{EXPORT_STOPS}")
    wait_for(lambda: {"JOB-001", "JOB-002"} <= _failing_codes(stack, "1.0"),
             "1.0's two failures in Prometheus", 120, details=details)  # fmt: skip
    wait_for(lambda: _failing_codes(stack, "1.0") == {"JOB-001"},
             "1.0's export failure to stop", 60, details=details)  # fmt: skip
    # export stays absent longer than the absence window while checkout keeps failing
    wait_for(lambda: not stack.query(
        f'max_over_time(otel_errors:fingerprint_active{{error_code="JOB-002"}}[{ABSENT_FOR:g}s])'
    ), "export absent for longer than the absence window", 120, interval=1.0,
             details=details)  # fmt: skip
    assert stack.release_pages() == [], "1.0's failures came with a new fingerprint scheme"
    release_1_0.stop()
    _release(stack, "1.1", "checkout,export,import")
    wait_for(lambda: _failing_codes(stack, "1.1") == {"JOB-001", "JOB-002", "JOB-003"},
             "1.1's three failures in Prometheus", 120, details=details)  # fmt: skip
    pages = wait_for(lambda: len(stack.release_pages()) >= 2 and stack.release_pages(),
                     "the new and regression pages", 60, details=details)  # fmt: skip
    # the conditions hold for the offset only; wait past it for any late page
    wait_for(lambda: not stack.query('ALERTS{release_event!=""}'), "the release alerts to end",
             60, details=details)  # fmt: skip
    pages = stack.release_pages()
    kinds = Counter(
        ("new" if "New error" in p["payload"]["summary"] else "regression",
         p["payload"]["custom_details"]["error_code"]) for p in pages
    )  # fmt: skip
    print(f"\nrelease notifications (PagerDuty triggers): {dict(kinds)}")
    assert kinds == Counter({("new", "JOB-003"): 1, ("regression", "JOB-002"): 1}), pages
    summaries = {p["payload"]["custom_details"]["error_code"]: p["payload"]["summary"]
                 for p in pages}  # fmt: skip
    assert summaries["JOB-003"] == (
        f"[P2] {SERVICE} ({ENVIRONMENT}): JOB-003 {SERVICE} ({ENVIRONMENT}): New error in "
        "release 1.1: Import met an unknown supplier [JOB-003]"
    )
    assert "Regression in release 1.1: Export file is malformed" in summaries["JOB-002"]
    traces = pages[0]["payload"]["custom_details"]["traces"]
    assert "error.fingerprint" in urllib.parse.unquote(traces)
