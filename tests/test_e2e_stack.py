"""End to end: the shop under the distro, through the collectors, to every backend and pager.

The real binaries from ``collector-config/build.sh`` run on free 127.0.0.1 ports in a
temporary directory: Jaeger v2 (``jaeger/config.yaml``), the gateway collector
(``otelcol/gateway.yaml``), the agent collector (``otelcol/agent.yaml``), Prometheus
(a copy of ``prometheus/prometheus.yml`` with these ports, scraping and evaluating
every second, with rules generated from ``examples/shop/errors.toml``) and
Alertmanager (a copy of ``alertmanager/alertmanager.yml`` whose secret files are
temporary files and whose endpoints are local). The shop example runs under
``opentelemetry-instrument`` with OTLP to the agent, on PostgreSQL and Redis from
``tests/servers.sh``, and ``examples/shop/traffic.py`` drives failing traffic.

Loki and Grafana cannot run here. A local OTLP/HTTP receiver stands in for Loki at
Loki's native OTLP path (``<loki>/otlp/v1/logs``): the test checks the request path
and tenant header and decodes the payload as an ``ExportLogsServiceRequest``. Grafana's
part is checked by running every Prometheus query of the generated dashboard against
the real Prometheus. PagerDuty (Events API v2), Slack (incoming webhook), the SMS
gateway (webhook) and the mail relay (SMTP, aiosmtpd) are local capture servers.

The agent and the gateway talk TLS with a bearer token (``otelcol/secure/``, with a CA,
a certificate and a token made for the run) and keep their sending queues on disk.

What is shortened for the test, and only here: the P2 and P3 alerts' ``for``, counts
and minimum traffic, and the pipeline alerts' window, through an ``AlertPolicy`` (P3's
real 20 errors in 15m for 15m cannot happen in a few minutes; P1, the one that pages
at once, keeps the shipped policy, which a test checks); Alertmanager's
``group_wait``/``group_interval``; the
gateway's tail-sampling decision wait and span-metrics flush (environment variables
of the shipped config), with the probabilistic share of successful traces set to 0 so
that the test can see that only error traces are kept; the SDK's export intervals.

The traffic runs in three phases because a P1 inhibits the P2s and P3s of its service:
first only the buggy ``average`` endpoint (P3 codes) until Slack has the P3, then only
orders paid with the card that stalls the payment provider (P2) until PagerDuty and
the mailbox have the P2, then the whole mix, including the payment outage (P1). The
last test stops Jaeger (the pipeline alert fires), kills the gateway with SIGKILL and
restarts both: nothing that waited in the collectors' queues is lost.

Secrets are planted the way real clients and users leak them: a bearer token and an
API key in request headers (the shop captures all request headers, a common
misconfiguration), a password and an e-mail address in the query string, the e-mail
as request id (echoed into the shop's log lines), a card number as product and order
id (it ends up in exception messages, stack traces and URLs), the e-mail as an
idempotency key (PostgreSQL repeats it in its unique-violation message), and the
declined card of the traffic, which the shop writes in full into a log line and an
exception message. No planted value may reach Jaeger, Prometheus, the Loki stand-in or
any notification.
"""

from __future__ import annotations

import contextlib
import email.message
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import requests
import yaml
from _e2e_alertmanager import ROUTING_KEY, SMTP_PASSWORD, write_alertmanager_config
from _e2e_capture import OTLP_LOGS, PAGERDUTY, SLACK, WEBHOOK, CaptureServer, SmtpCapture
from _e2e_processes import Service, Services, free_port, get_json, http_get, services, wait_for
from _e2e_tls import PipelineCredentials, pipeline_credentials
from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from otel_errors._internal.model import declarations
from otel_errors._internal.model.catalog import Catalog
from otel_errors._internal.recording.registry import Registry
from otel_errors._internal.tooling.alert_policy import AlertPolicy, Threshold
from otel_errors._internal.tooling.alert_rules import alert_name, rules_document
from otel_errors._internal.tooling.dashboards import ALL, panel_queries

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "collector-config"
SHOP = ROOT / "examples" / "shop"
BIN = Path(sys.executable).parent
pytestmark = pytest.mark.e2e

SERVICE, ENVIRONMENT = "shop", "e2e"
BEARER = "e2eBearerT0ken7Qx9Lm2Pz4"
API_KEY = "e2eApiKey5Hn3Vq8Wd1"
PASSWORD = "e2ePassw0rdQs91"  # noqa: S105 - a planted test secret
CARD = "4111111111111111"
DECLINED_CARD = "4000000000000002"  # traffic.py's; the shop logs and raises it in full
STALLING_CARD = "4000000000000003"  # traffic.py's: the payment provider is too slow (PAY-003)
EMAIL = "alice.e2e@example.com"
SECRETS = {
    "bearer token": BEARER,
    "API key": API_KEY,
    "password": PASSWORD,
    "card number": CARD,
    "declined card number": DECLINED_CARD,
    "e-mail address": EMAIL,
}
CLIENT_HEADERS = {"Authorization": f"Bearer {BEARER}", "X-API-Key": API_KEY, "X-Request-ID": EMAIL}
CLIENT_QUERY = urllib.parse.urlencode({"password": PASSWORD, "email": EMAIL})

# P2/P3 alert as soon as the errors are there (see the module docstring), still as a share
# of the requests; P1 and P4 as shipped. Pipeline alerts look at 20 s instead of 5 m.
TEST_POLICY = AlertPolicy(
    thresholds={
        **AlertPolicy().thresholds,
        "P2": Threshold("5m", "5s", 3, ratio=0.01, min_requests=5),
        "P3": Threshold("5m", "5s", 3, ratio=0.01, min_requests=5),
    },
    pipeline_window="20s",
    pipeline_for="0m",
)
EXPECTED_CODES = {"PAY-001", "PAY-002", "PAY-003", "SHOP-001", "SHOP-002", "BUG-003", "BUG-005",
                  "DB-1002", "CACHE-002", "CACHE-011", "NET-001"}  # fmt: skip
PAGERDUTY_SEVERITY = {"P1": "critical", "P2": "error", "P3": "warning", "P4": "info"}
# Defaults of the shipped prometheus.yml's targets -> the port names used here.
SHIPPED_TARGETS = {
    "127.0.0.1:9464": "gateway_exporter",
    "127.0.0.1:8888": "agent_telemetry",
    "127.0.0.1:8889": "gateway_telemetry",
    "127.0.0.1:14269": "jaeger_telemetry",
    "127.0.0.1:9090": "prometheus",
    "127.0.0.1:9093": "alertmanager",
}


@pytest.fixture(scope="module")
def binaries() -> dict[str, str]:
    result = subprocess.run(
        ["bash", str(DEPLOY / "build.sh")], capture_output=True, text=True, timeout=3600,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, f"collector-config/build.sh failed:\n{result.stderr[-3000:]}"
    return dict(line.split("=", 1) for line in result.stdout.split())


def _clean_env() -> dict[str, str]:
    """This process's environment without settings meant for the configs or the SDK."""
    prefixes = ("OTEL_", "JAEGER_", "LOKI_", "SHOP_", "PAYMENTS_")
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}


@dataclass(frozen=True)
class Command:
    """How a service of the stack was started, to start it again."""

    argv: list[str]
    env: dict[str, str]
    health: str

    def start(self, started: Services, name: str) -> Service:
        service = started.start(name, self.argv, self.env)
        started.wait_healthy(service, self.health)
        return service


@dataclass
class Stack:
    """The running deployment: addresses, stand-ins and processes."""

    ports: dict[str, int]
    services: Services
    loki: CaptureServer
    pagerduty: CaptureServer
    slack: CaptureServer
    sms: CaptureServer
    deadmansswitch: CaptureServer
    smtp: SmtpCapture
    catalog: Catalog
    cli_rules: dict[str, Any]
    test_rules: dict[str, Any]
    credentials: PipelineCredentials
    commands: dict[str, Command]

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def prometheus(self, path: str, **params: str) -> Any:
        query = urllib.parse.urlencode(params)
        answer = get_json(f"{self.url('prometheus')}{path}?{query}")
        assert answer["status"] == "success", answer
        return answer["data"]

    def jaeger_traces(self) -> list[dict[str, Any]]:
        query = urllib.parse.urlencode({"service": SERVICE, "limit": "20000", "lookback": "1h"})
        return list(get_json(f"{self.url('jaeger_query')}/api/traces?{query}", 60)["data"])

    def pages(self) -> list[dict[str, Any]]:
        return [c.json() for c in self.pagerduty.received("/v2/enqueue")]

    def details(self) -> str:
        return self.services.logs()


def _write_prometheus_config(stack_dir: Path, ports: dict[str, int], rules: Path) -> Path:
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    config["rule_files"] = [str(rules)]
    for alerting in config["alerting"]["alertmanagers"]:
        for static in alerting["static_configs"]:
            static["targets"] = [f"127.0.0.1:{ports['alertmanager']}"]
    for job in config["scrape_configs"]:
        job["scrape_interval"] = "1s"
        statics = []
        for static in job["static_configs"]:
            unknown = set(static["targets"]) - set(SHIPPED_TARGETS)
            assert not unknown, f"prometheus.yml has targets this test does not map: {unknown}"
            static["targets"] = [
                f"127.0.0.1:{ports[SHIPPED_TARGETS[t]]}" for t in static["targets"]
                if t in SHIPPED_TARGETS
            ]  # fmt: skip
            if static["targets"]:
                statics.append(static)
        job["static_configs"] = statics
    path = stack_dir / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _rules(
    stack_dir: Path, catalog_file: Path
) -> tuple[Catalog, dict[str, Any], dict[str, Any], Path]:
    """The rules `otel-errors alerts rules` generates for a catalogue, and the test's variant."""
    shop_catalog = str(catalog_file)
    cli = subprocess.run(
        [sys.executable, "-m", "otel_errors._internal.tooling.cli", "alerts", "rules", "--catalog",
         shop_catalog], capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    # The services under test know only the file, as the CLI does: not the AppError codes
    # that tests run earlier in this process declared (test_across_services' ORD-502).
    with mock.patch.object(declarations, "declared", Catalog()):
        registry = Registry()
    registry.load_files([shop_catalog])
    test_rules = rules_document(registry.catalog, TEST_POLICY)
    path = stack_dir / "otel-errors.rules.yml"
    path.write_text(yaml.safe_dump(test_rules, sort_keys=False))
    return registry.catalog, yaml.safe_load(cli.stdout), test_rules, path


PORT_NAMES = (
    "jaeger_grpc", "jaeger_http", "jaeger_query", "jaeger_query_grpc", "jaeger_health",
    "jaeger_telemetry", "gateway_grpc", "gateway_http", "gateway_health", "gateway_telemetry",
    "gateway_exporter", "agent_grpc", "agent_http", "agent_health", "agent_telemetry",
    "prometheus", "alertmanager", "smtp",
)  # fmt: skip


def _collector_commands(
    binaries: dict[str, str],
    ports: dict[str, int],
    loki: str,
    pipeline: PipelineCredentials,
    queues: Path,
) -> dict[str, Command]:
    """Jaeger, the gateway and the agent, wired through the shipped configs' variables.

    The agent and the gateway talk TLS with a bearer token (``otelcol/secure/``), and
    keep their sending queues on disk (``OTEL_ERRORS_QUEUE_DIR``).
    """
    addr = {name: f"127.0.0.1:{port}" for name, port in ports.items()}
    env = _clean_env()
    jaeger_env = {
        "JAEGER_OTLP_GRPC_ADDR": addr["jaeger_grpc"],
        "JAEGER_OTLP_HTTP_ADDR": addr["jaeger_http"],
        "JAEGER_QUERY_HTTP_ADDR": addr["jaeger_query"],
        "JAEGER_QUERY_GRPC_ADDR": addr["jaeger_query_grpc"],
        "JAEGER_HEALTH_ADDR": addr["jaeger_health"],
        "JAEGER_TELEMETRY_PORT": str(ports["jaeger_telemetry"]),
        "JAEGER_PROMETHEUS_URL": f"http://{addr['prometheus']}",
    }
    gateway_env = {
        **pipeline.environment(),
        "OTEL_ERRORS_QUEUE_DIR": str(queues / "gateway"),
        "OTEL_ERRORS_GATEWAY_GRPC_ADDR": addr["gateway_grpc"],
        "OTEL_ERRORS_GATEWAY_HTTP_ADDR": addr["gateway_http"],
        "OTEL_ERRORS_GATEWAY_HEALTH_ADDR": addr["gateway_health"],
        "OTEL_ERRORS_GATEWAY_TELEMETRY_PORT": str(ports["gateway_telemetry"]),
        "OTEL_ERRORS_PROMETHEUS_EXPORTER_ADDR": addr["gateway_exporter"],
        "JAEGER_OTLP_ENDPOINT": addr["jaeger_grpc"],
        "LOKI_OTLP_ENDPOINT": f"{loki}/otlp",
        "OTEL_ERRORS_TAIL_DECISION_WAIT": "2s",
        "OTEL_ERRORS_TAIL_SAMPLING_PERCENTAGE": "0",
        "OTEL_ERRORS_SPANMETRICS_FLUSH_INTERVAL": "2s",
    }
    agent_env = {
        **pipeline.environment(),
        "OTEL_ERRORS_QUEUE_DIR": str(queues / "agent"),
        "OTEL_ERRORS_AGENT_GRPC_ADDR": addr["agent_grpc"],
        "OTEL_ERRORS_AGENT_HTTP_ADDR": addr["agent_http"],
        "OTEL_ERRORS_AGENT_HEALTH_ADDR": addr["agent_health"],
        "OTEL_ERRORS_AGENT_TELEMETRY_PORT": str(ports["agent_telemetry"]),
        "OTEL_ERRORS_GATEWAY_ENDPOINT": addr["gateway_grpc"],
    }
    otelcol = binaries["OTELCOL_BIN"]

    def collector(tier: str) -> list[str]:
        return [otelcol, f"--config={DEPLOY / 'otelcol' / f'{tier}.yaml'}",
                f"--config={DEPLOY / 'otelcol' / 'secure' / f'{tier}.yaml'}"]  # fmt: skip

    return {
        "jaeger": Command(
            [binaries["JAEGER_BIN"], f"--config={DEPLOY / 'jaeger' / 'config.yaml'}"],
            {**env, **jaeger_env}, f"http://{addr['jaeger_health']}/status",
        ),
        "gateway": Command(
            collector("gateway"), {**env, **gateway_env}, f"http://{addr['gateway_health']}/"
        ),
        "agent": Command(collector("agent"), {**env, **agent_env},
                         f"http://{addr['agent_health']}/"),
    }  # fmt: skip


def _start_prometheus_and_alertmanager(
    started: Services, binaries: dict[str, str], ports: dict[str, int], configs: tuple[Path, Path]
) -> None:
    prometheus_yml, alertmanager_yml = configs
    directory = started.directory
    alertmanager_addr = f"127.0.0.1:{ports['alertmanager']}"
    prometheus_addr = f"127.0.0.1:{ports['prometheus']}"
    alertmanager = started.start(
        "alertmanager",
        [
            binaries["ALERTMANAGER_BIN"],
            f"--config.file={alertmanager_yml}",
            f"--storage.path={directory / 'alertmanager-data'}",
            f"--web.listen-address={alertmanager_addr}",
            "--cluster.listen-address=",  # no HA gossip port
        ],
        _clean_env(),
    )
    prometheus = started.start(
        "prometheus",
        [
            binaries["PROMETHEUS_BIN"],
            f"--config.file={prometheus_yml}",
            f"--storage.tsdb.path={directory / 'prometheus-data'}",
            f"--web.listen-address={prometheus_addr}",
            "--enable-feature=exemplar-storage",
        ],
        _clean_env(),
    )
    started.wait_healthy(alertmanager, f"http://{alertmanager_addr}/-/ready")
    started.wait_healthy(prometheus, f"http://{prometheus_addr}/-/ready")


@pytest.fixture(scope="module")
def stack(binaries, tmp_path_factory) -> Iterator[Stack]:
    """Jaeger, gateway, agent, Prometheus, Alertmanager and the stand-ins, all on loopback."""
    yield from running_stack(binaries, tmp_path_factory, SHOP / "errors.toml")


def running_stack(
    binaries: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
    catalog_file: Path,
    *,
    shipped_group_waits: bool = False,
) -> Iterator[Stack]:
    """The stack with rules generated from ``catalog_file``, until the generator is closed.

    Ports are picked free and bound a moment later by the binaries: another process on
    the machine may take one in between, so the whole stack starts again on new ports
    (twice at most) when a binary reports its address in use. ``shipped_group_waits``
    keeps Alertmanager's ``group_wait`` as shipped (see ``write_alertmanager_config``).
    """
    for attempt in range(3):
        with contextlib.ExitStack() as cleanup:
            try:
                started = _start_stack(
                    binaries, tmp_path_factory.mktemp("stack"), cleanup, catalog_file,
                    shipped_group_waits=shipped_group_waits,
                )  # fmt: skip
            except AssertionError as failure:
                if "address already in use" in str(failure) and attempt < 2:
                    continue
                raise
            yield started
            return


def _start_stack(
    binaries: dict[str, str],
    stack_dir: Path,
    cleanup: contextlib.ExitStack,
    catalog_file: Path,
    *,
    shipped_group_waits: bool,
) -> Stack:
    ports = {name: free_port() for name in PORT_NAMES}
    stand_ins = {
        "loki": CaptureServer(OTLP_LOGS),
        "pagerduty": CaptureServer(PAGERDUTY),
        "slack": CaptureServer(SLACK),
        "sms": CaptureServer(WEBHOOK),
        "deadmansswitch": CaptureServer(WEBHOOK),
    }
    for stand_in in stand_ins.values():
        cleanup.callback(stand_in.close)
    smtp = SmtpCapture(ports["smtp"])
    cleanup.callback(smtp.close)
    catalog, cli_rules, test_rules, rules = _rules(stack_dir, catalog_file)
    prometheus_yml = _write_prometheus_config(stack_dir, ports, rules)
    urls = {name: server.url for name, server in stand_ins.items()}
    alertmanager_yml = write_alertmanager_config(
        stack_dir, urls, ports["smtp"], shipped_group_waits=shipped_group_waits
    )
    for check in (
        [binaries["PROMTOOL_BIN"], "check", "config", str(prometheus_yml)],
        [binaries["AMTOOL_BIN"], "check-config", str(alertmanager_yml)],
    ):
        subprocess.run(check, capture_output=True, timeout=60, check=True)
    credentials = pipeline_credentials(stack_dir)
    commands = _collector_commands(
        binaries, ports, stand_ins["loki"].url, credentials, stack_dir / "queues"
    )
    started = cleanup.enter_context(services(stack_dir))
    for name in ("jaeger", "gateway", "agent"):
        commands[name].start(started, name)
    _start_prometheus_and_alertmanager(started, binaries, ports, (prometheus_yml, alertmanager_yml))
    return Stack(
        ports, started, smtp=smtp, catalog=catalog, cli_rules=cli_rules,
        test_rules=test_rules, credentials=credentials, commands=commands, **stand_ins,
    )  # fmt: skip


class TrafficLoop:
    """Runs examples/shop/traffic.py over and over in a thread until stopped."""

    def __init__(self, base: str, env: dict[str, str]) -> None:
        self.base, self.env = base, env
        self.only: str | None = None
        self.runs = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self, only: str | None) -> None:
        self.only = only
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            command = [
                sys.executable, str(SHOP / "traffic.py"), "--base", self.base, "--requests", "40",
                "--seed", str(self.runs), "--query", CLIENT_QUERY,
            ]  # fmt: skip
            command += [arg for name, value in CLIENT_HEADERS.items()
                        for arg in ("--header", f"{name}: {value}")]  # fmt: skip
            if self.only:
                command += ["--only", self.only]
            result = subprocess.run(
                command, capture_output=True, text=True, env=self.env, timeout=120, check=False
            )
            self.runs += 1
            if result.returncode:
                self.failures.append(result.stdout[-500:] + result.stderr[-2000:])
                self._stop.wait(1)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=150)


@dataclass
class Scenario:
    """The stack after both traffic phases, with the shop still sending the full mix."""

    stack: Stack
    traffic: TrafficLoop
    planted: dict[str, int] = field(default_factory=dict)

    def details(self) -> str:
        failures = "\n".join(self.traffic.failures[-2:])
        return f"traffic runs: {self.traffic.runs}, failures:\n{failures}\n{self.stack.details()}"


def _plant_secrets(base: str) -> dict[str, int]:
    """Requests that put the card number and e-mail where the shop repeats them.

    One connection per request, as traffic.py does: after an unhandled exception
    uvicorn closes the connection, which a pooled session would reuse.
    """
    order = {"product_id": 3, "quantity": 1, "card": "4000000000000001"}
    idempotent = {"json": order, "headers": {**CLIENT_HEADERS, "Idempotency-Key": EMAIL}}
    statuses = {}
    for name, method, path, extra in (
        ("card as product id", "GET", f"/products/{CARD}", {"headers": CLIENT_HEADERS}),
        ("card as order id", "GET", f"/orders/{CARD}/average", {"headers": CLIENT_HEADERS}),
        ("e-mail as idempotency key", "POST", "/orders", idempotent),
        ("e-mail as idempotency key again", "POST", "/orders", idempotent),
    ):
        response = requests.request(method, f"{base}{path}?{CLIENT_QUERY}", timeout=10, **extra)
        statuses[name] = response.status_code
    return statuses


@pytest.fixture(scope="module")
def scenario(stack, postgres_dsn, redis_url, tmp_path_factory) -> Iterator[Scenario]:
    """The shop and its traffic: P3-only first (until Slack has it), then the whole mix."""
    shop_port, payments_port = free_port(), free_port()
    env = {
        **_clean_env(),
        "OTEL_SERVICE_NAME": SERVICE,
        "OTEL_RESOURCE_ATTRIBUTES": f"deployment.environment.name={ENVIRONMENT}",
        "OTEL_EXPORTER_OTLP_ENDPOINT": stack.url("agent_http"),
        "OTEL_ERRORS_CATALOG": str(SHOP / "errors.toml"),
        "OTEL_METRIC_EXPORT_INTERVAL": "1000",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "OTEL_BLRP_SCHEDULE_DELAY": "200",
        # Exceptions also as log records (semconv), so the logs carry their codes.
        "OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN": "logs/dup",
        # Every request header on the server spans: how headers with secrets get captured.
        "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST": ".*",
        "SHOP_PORT": str(shop_port),
        "PAYMENTS_PORT": str(payments_port),
        "SHOP_PAYMENTS_URL": f"http://127.0.0.1:{payments_port}",
        "SHOP_RECOMMENDER_URL": f"http://127.0.0.1:{free_port()}",
        "SHOP_DATABASE_URL": postgres_dsn,
        "SHOP_REDIS_URL": redis_url,
    }
    base = f"http://127.0.0.1:{shop_port}"
    with services(tmp_path_factory.mktemp("shop")) as started:
        started.start("payments", [sys.executable, str(SHOP / "payments.py")], env)
        shop = started.start("shop", [str(BIN / "opentelemetry-instrument"), sys.executable,
                                      str(SHOP / "app.py")], env)  # fmt: skip
        started.wait_healthy(shop, f"{base}/health")
        traffic = TrafficLoop(base, env)
        scenario = Scenario(stack, traffic)
        try:
            traffic.start(only=r"^GET /orders/\d+/average$")
            scenario.planted = _plant_secrets(base)
            wait_for(lambda: _notifications(stack.slack, "P3"), "the P3 alert in Slack", 150,
                     details=lambda: scenario.details() + started.logs())  # fmt: skip
            traffic.only = STALLING_CARD
            wait_for(lambda: _pages(stack, "P2") and _mails(stack, "P2"),
                     "the P2 page and e-mail", 150,
                     details=lambda: scenario.details() + started.logs())  # fmt: skip
            traffic.only = None
            wait_for(lambda: _firing(stack, "P1") and _firing(stack, "P2"),
                     "a P1 and a P2 alert firing in Prometheus", 150,
                     details=lambda: scenario.details() + started.logs())  # fmt: skip
            yield scenario
        finally:
            traffic.stop()


def _firing(stack: Stack, severity: str) -> list[dict[str, Any]]:
    alerts = stack.prometheus("/api/v1/alerts")["alerts"]
    return [a for a in alerts if a["state"] == "firing" and a["labels"]["severity"] == severity
            and a["labels"].get("service_name") == SERVICE]  # fmt: skip


def _notifications(server: CaptureServer, severity: str) -> list[dict[str, Any]]:
    """Slack or webhook payloads about alerts of ``severity``."""
    found = []
    for captured in server.received():
        payload = captured.json()
        text = json.dumps(payload)
        if f'"severity": "{severity}"' in text or f"[{severity}]" in text:
            found.append(payload)
    return found


def _pages(stack: Stack, severity: str) -> list[dict[str, Any]]:
    """The shop's pages of ``severity``.

    Not the pipeline's own alerts (source ``otel_errors pipeline``): with the test
    policy's 20 s window, a loaded machine can make an export fail for a moment, and
    that page is right, but it is not what these tests look at.
    """
    return [
        p
        for p in stack.pages()
        if p["payload"]["custom_details"]["severity"] == severity
        and p["payload"]["source"] == f"{SERVICE} ({ENVIRONMENT})"
    ]


def _mails(stack: Stack, severity: str) -> list[email.message.EmailMessage]:
    """The shop's e-mails of ``severity`` (not the pipeline's own: see ``_pages``)."""
    subject = f"[{severity}] {SERVICE} ({ENVIRONMENT}): "
    return [m for m in stack.smtp.messages if str(m["Subject"]).startswith(subject)]


def _text_part(message: email.message.EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None, message.as_string()[:2000]
    return str(part.get_content())


def _span_events(trace: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(span, event fields) for every exception event of a Jaeger trace."""
    for span in trace["spans"]:
        for log in span.get("logs", []):
            fields = {f["key"]: f["value"] for f in log["fields"]}
            if fields.get("event") == "exception":
                yield span, fields


def test_test_rules_keep_the_shipped_p1_policy(stack):
    """The P1 alert of the test rules is exactly what `otel-errors alerts rules` generates."""

    def rule(document: dict[str, Any], code: str) -> dict[str, Any]:
        return next(r for g in document["groups"] for r in g["rules"]
                    if r.get("alert") == alert_name(code))  # fmt: skip

    assert rule(stack.cli_rules, "PAY-001") == rule(stack.test_rules, "PAY-001")
    assert rule(stack.cli_rules, "PAY-001")["for"] == "0m"
    assert rule(stack.cli_rules, "PAY-001")["labels"]["severity"] == "P1"


def test_error_traces_reach_jaeger_with_their_codes(scenario):
    """Jaeger holds the shop's error traces, each exception event with its error.code."""
    stack = scenario.stack

    def codes() -> set[str]:
        found = {fields.get("error.code") for trace in stack.jaeger_traces()
                 for _, fields in _span_events(trace)}  # fmt: skip
        return found if found >= EXPECTED_CODES else set()

    found = wait_for(codes, f"exception events with {sorted(EXPECTED_CODES)} in Jaeger", 90,
                     details=scenario.details)  # fmt: skip
    events = [fields for trace in stack.jaeger_traces() for _, fields in _span_events(trace)]
    pay = next(f for f in events if f.get("error.code") == "PAY-001")
    assert (pay["error.severity"], pay["error.category"]) == ("P1", "transient")
    assert pay["exception.type"] == "__main__.PaymentUnavailable"
    assert len(pay["error.fingerprint"]) == 16
    assert "UNKNOWN" not in found


def test_tail_sampling_keeps_every_error_trace_and_drops_the_rest(scenario):
    """With no probabilistic share, Jaeger has only traces that contain an error."""
    traces = scenario.stack.jaeger_traces()
    assert len(traces) > 50

    def has_error(trace: dict[str, Any]) -> bool:
        for span in trace["spans"]:
            tags = {t["key"]: t["value"] for t in span["tags"]}
            if tags.get("otel.status_code") == "ERROR" or "error.type" in tags:
                return True
        return any(True for _ in _span_events(trace))

    assert [t["traceID"] for t in traces if not has_error(t)] == []
    # The good requests of the mix (GET /products/1 answers 200) were sent, never kept.
    paths = {t["value"] for trace in traces for span in trace["spans"] for t in span["tags"]
             if t["key"] == "url.path"}  # fmt: skip
    assert "/products/1" not in paths
    assert "/products/42" in paths


def test_tail_sampling_keeps_exceptions_without_an_error_code(stack):
    """A trace whose only sign of trouble is an exception event without error.code is kept.

    As services without otel_errors send them: span status unset, no error.type.
    """
    trace_id, now = os.urandom(16).hex(), time.time_ns()
    event = {"timeUnixNano": str(now), "name": "exception", "attributes": [
        {"key": "exception.type", "value": {"stringValue": "TimeoutError"}}]}  # fmt: skip
    span = {"traceId": trace_id, "spanId": os.urandom(8).hex(), "name": "poll", "kind": 1,
            "startTimeUnixNano": str(now - 1_000_000), "endTimeUnixNano": str(now),
            "events": [event]}  # fmt: skip
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "legacy"}}]}
    body = {"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": [span]}]}]}
    requests.post(f"{stack.url('agent_http')}/v1/traces", json=body, timeout=10).raise_for_status()
    url = f"{stack.url('jaeger_query')}/api/traces/{trace_id}"
    wait_for(lambda: http_get(url)[0] == 200, "the uncoded exception trace in Jaeger", 60,
             details=stack.details)  # fmt: skip


def test_every_dashboard_query_returns_data(scenario):
    """Each Prometheus query of the generated dashboard has results in the real Prometheus."""
    stack = scenario.stack
    replacements = {"$service": ALL, "$environment": ALL, "$__rate_interval": "1m",
                    "$__range": "5m"}  # fmt: skip
    for title, expressions in panel_queries().items():
        for expression in expressions:
            query = expression
            for variable, value in replacements.items():
                query = query.replace(variable, value)

            def results(query: str = query) -> list[Any]:
                return list(stack.prometheus("/api/v1/query", query=query)["result"])

            wait_for(results, f"data for panel {title!r}: {query}", 60, details=scenario.details)


def test_jaegers_monitor_tab_reads_the_span_metrics(scenario):
    """Jaeger's service performance API (the Monitor tab) answers the shop's calls and errors."""
    stack = scenario.stack

    def series(what: str) -> list[dict[str, Any]]:
        query = urllib.parse.urlencode({
            "service": SERVICE, "spanKind": "server", "groupByOperation": "true",
            "endTs": str(int(time.time() * 1000)), "lookback": "600000", "step": "5000",
            "ratePer": "60000", "quantile": "0.95",
        })  # fmt: skip
        answer = get_json(f"{stack.url('jaeger_query')}/api/metrics/{what}?{query}")
        return [m for m in answer["metrics"] if m["metricPoints"]]

    for what in ("calls", "errors", "latencies"):
        found = wait_for(lambda what=what: series(what), f"Jaeger's {what} of the shop", 60,
                         details=scenario.details)  # fmt: skip
        operations = {label["value"] for m in found for label in m["labels"]
                      if label["name"] == "operation"}  # fmt: skip
        assert any("/orders" in operation for operation in operations), operations


def test_error_counts_carry_exemplars_that_open_a_trace(scenario):
    """errors_total has exemplars in Prometheus whose trace ids Jaeger knows."""
    stack = scenario.stack
    now = time.time()

    def exemplars() -> list[str]:
        data = stack.prometheus("/api/v1/query_exemplars", query="errors_total",
                                start=str(now - 3600), end=str(time.time()))  # fmt: skip
        return [e["labels"]["trace_id"] for series in data for e in series["exemplars"]
                if "trace_id" in e["labels"]]  # fmt: skip

    trace_ids = wait_for(exemplars, "exemplars on errors_total", 60, details=scenario.details)
    url = f"{stack.url('jaeger_query')}/api/traces/"
    wait_for(lambda: all(http_get(url + trace_id)[0] == 200 for trace_id in trace_ids[:10]),
             "the exemplars' traces in Jaeger", 30, details=scenario.details)  # fmt: skip


def test_p1_and_p2_alerts_fire_with_catalogue_annotations(scenario):
    """PAY-001 fires as P1 at its first errors, and a P2 code alert fires too."""
    stack = scenario.stack
    p1 = _firing(stack, "P1")
    assert {a["labels"]["error_code"] for a in p1} == {"PAY-001"}
    pay = p1[0]
    assert pay["labels"]["alertname"] == "OtelErrors_PAY_001"
    assert pay["labels"]["deployment_environment_name"] == ENVIRONMENT
    assert pay["annotations"]["runbook_url"] == "https://runbooks.example.com/shop/pay-001"
    assert pay["annotations"]["summary"] == ("shop (e2e): Payment provider unavailable [PAY-001]")
    assert {a["labels"]["error_code"] for a in _firing(stack, "P2")} & {"PAY-003", "NET-001"}


def _check_on_call_fields(details: dict[str, str], stack: Stack, severity: str) -> None:
    code = details["error_code"]
    entry = stack.catalog.get(code)
    assert entry is not None, code
    assert entry.severity.value == severity
    assert (details["service"], details["environment"]) == (SERVICE, ENVIRONMENT)
    assert details["severity"] == severity
    assert details["action"] == entry.action
    assert details["runbook"] == entry.runbook or f"{AlertPolicy.docs_url}#{code.lower()}"
    assert details["summary"] == f"shop (e2e): {entry.title} [{code}]"
    logs = urllib.parse.unquote(details["logs"])
    assert logs.startswith("http://localhost:3000/explore?")
    assert '{service_name=\\"shop\\"} | error_code=\\"' + code in logs
    traces = urllib.parse.unquote(details["traces"])
    assert traces.startswith("http://localhost:16686/search?service=shop&")
    assert f'"error.code":"{code}"' in traces


def test_p1_and_p2_page_through_pagerduty_events_v2(scenario):
    """PagerDuty gets Events API v2 triggers for P1 and P2 with what on-call needs."""
    stack = scenario.stack
    for severity in ("P1", "P2"):
        pages = wait_for(lambda severity=severity: _pages(stack, severity),
                         f"a {severity} page", 60, details=scenario.details)  # fmt: skip
        page = pages[0]
        assert page["routing_key"] == ROUTING_KEY
        assert page["event_action"] == "trigger"
        assert page["dedup_key"]
        payload = page["payload"]
        assert payload["severity"] == PAGERDUTY_SEVERITY[severity]
        assert payload["source"] == f"{SERVICE} ({ENVIRONMENT})"
        code = payload["custom_details"]["error_code"]
        assert code in payload["custom_details"]["error_codes"].split(", ")
        assert payload["summary"].startswith(f"[{severity}] shop (e2e): ")
        assert code in payload["summary"]
        _check_on_call_fields(payload["custom_details"], stack, severity)
    assert {p["payload"]["custom_details"]["error_code"] for p in _pages(stack, "P1")} == {
        "PAY-001"
    }


def test_p1_and_p2_send_an_email_with_the_same_fields(scenario):
    """The on-call mailbox gets a P1 and a P2 e-mail, through the relay's login."""
    stack = scenario.stack
    for severity in ("P1", "P2"):
        mails = wait_for(lambda severity=severity: _mails(stack, severity),
                         f"a {severity} e-mail", 60, details=scenario.details)  # fmt: skip
        mail = mails[0]
        assert mail["To"] == "oncall@example.com"
        assert mail["From"] == "alerts@example.com"
        assert str(mail["Subject"]).startswith(f"[{severity}] shop (e2e): ")
        text = _text_part(mail)
        code = re.search(r"Error code: (\S+)", text)
        assert code is not None, text
        entry = stack.catalog.get(code.group(1))
        assert entry is not None
        for line in (
            f"Service: {SERVICE}   Environment: {ENVIRONMENT}",
            f"Severity: {severity}   Error code: {entry.code}",
            f"Suggested action: {entry.action}",
            "Logs: http://localhost:3000/explore?",
        ):
            assert line in text, text  # fmt: skip
        assert f"Runbook: {entry.runbook or AlertPolicy.docs_url}" in text
        assert "Traces: http://localhost:16686/search?service=shop&" in text
        html = mail.get_body(preferencelist=("html",))
        assert html is not None
    assert ("alerts@example.com", SMTP_PASSWORD) in stack.smtp.logins


def test_the_sms_gateway_gets_p1_only(scenario):
    """The SMS webhook gets the P1 alert, and nothing of lower severity."""
    stack = scenario.stack
    sms = wait_for(lambda: _notifications(stack.sms, "P1"), "the P1 SMS", 60,
                   details=scenario.details)  # fmt: skip
    assert sms[0]["receiver"] == "p1-page"
    assert sms[0]["commonLabels"]["error_code"] == "PAY-001"
    severities = {a["labels"]["severity"] for c in stack.sms.received() for a in c.json()["alerts"]}
    assert severities == {"P1"}


def test_p3_notifies_slack_and_email_and_never_pages(scenario):
    """A P3 reaches Slack and e-mail with its fields; P3 and P4 never reach PagerDuty or SMS."""
    stack = scenario.stack
    slack = _notifications(stack.slack, "P3")[0]
    assert (slack["channel"], slack["username"]) == ("#alerts", "otel_errors")
    attachment = slack["attachments"][0]
    assert attachment["title"].startswith("[P3] shop (e2e): "), attachment["title"]
    code = re.search(r"`(\S+)` · P3", attachment["text"])
    assert code is not None, attachment["text"]
    entry = stack.catalog.get(code.group(1))
    assert entry is not None
    assert entry.severity.value == "P3"
    assert attachment["title_link"].startswith("http://localhost:3000/explore?")
    assert f"`{entry.code}` · P3 · shop (e2e)" in attachment["text"]
    assert f"*Suggested action:* {entry.action}" in attachment["text"]
    assert "|Logs>" in attachment["text"]
    assert "|Traces>" in attachment["text"]
    assert _mails(stack, "P3")
    assert not _pages(stack, "P3")
    assert not _pages(stack, "P4")
    assert {n["payload"]["custom_details"]["severity"] for n in stack.pages()} <= {"P1", "P2"}
    assert not [c for c in stack.slack.received() if re.search(r"\[P[12]\]", c.body.decode())]


@pytest.mark.parametrize("severity", ["P2", "P3"])
def test_a_p1_silences_the_lower_severities_of_its_service(scenario, severity):
    """While PAY-001 fires, Alertmanager holds back the shop's P2 and P3 alerts (inhibition)."""
    stack = scenario.stack

    def suppressed() -> list[dict[str, Any]]:
        alerts = get_json(f"{stack.url('alertmanager')}/api/v2/alerts")
        lower = [a for a in alerts if a["labels"].get("severity") == severity
                 and a["labels"].get("service_name") == SERVICE]  # fmt: skip
        return [a for a in lower if a["status"]["state"] == "suppressed"
                and a["status"]["inhibitedBy"]]  # fmt: skip

    wait_for(suppressed, f"a {severity} alert of the shop inhibited by the P1", 60,
             details=scenario.details)  # fmt: skip


def _loki_requests(stack: Stack) -> list[tuple[dict[str, str], ExportLogsServiceRequest]]:
    decoded = []
    for captured in stack.loki.received():
        request = ExportLogsServiceRequest()
        request.ParseFromString(captured.body)
        decoded.append((captured.headers, request))
    return decoded


def test_logs_reach_loki_over_its_native_otlp_endpoint(scenario):
    """The Loki stand-in gets OTLP protobuf on /otlp/v1/logs with service, trace ids and codes."""
    stack = scenario.stack

    def records() -> list[tuple[dict[str, Any], dict[str, Any]]]:
        found = []
        for _, request in _loki_requests(stack):
            for resource_logs in request.resource_logs:
                resource = {a.key: a.value.string_value for a in resource_logs.resource.attributes}
                for scope_logs in resource_logs.scope_logs:
                    found.extend((resource, record) for record in scope_logs.log_records)
        codes = {a.value.string_value for _, r in found for a in r.attributes
                 if a.key == "error.code"}  # fmt: skip
        return found if {"PAY-001", "BUG-005"} <= codes else []

    found = wait_for(records, "exception log records with codes at the Loki stand-in", 60,
                     details=scenario.details)  # fmt: skip
    assert {c.path for c in stack.loki.received()} == {"/otlp/v1/logs"}
    headers = stack.loki.received()[0].headers
    assert headers["content-type"] == "application/x-protobuf"
    assert headers["x-scope-orgid"] == "otel-errors"
    shop = [(res, rec) for res, rec in found if res.get("service.name") == SERVICE]
    assert shop
    assert all(res["deployment.environment.name"] == ENVIRONMENT for res, _ in shop)
    with_codes = [rec for _, rec in shop if any(a.key == "error.code" for a in rec.attributes)]
    assert all(len(rec.trace_id) == 16 and any(rec.trace_id) for rec in with_codes)
    declined = [rec for _, rec in shop if "declined for an order" in rec.body.string_value]
    assert declined, sorted({rec.body.string_value[:80] for _, rec in shop})
    assert all(len(rec.trace_id) == 16 for rec in declined)
    assert {"request_id", "component"} <= {a.key for a in declined[0].attributes}
    # logs -> traces: exception logs' traces are in Jaeger (once sampling has decided)
    url = f"{stack.url('jaeger_query')}/api/traces/"
    wait_for(lambda: all(http_get(url + rec.trace_id.hex())[0] == 200 for rec in with_codes[:10]),
             "the traces of exception logs in Jaeger", 30, details=scenario.details)  # fmt: skip


def test_planted_secrets_reach_the_pipeline_and_leave_it_masked(scenario):
    """The planted requests are in Jaeger, their secrets masked, credential headers gone."""
    planted = scenario.planted
    assert planted["card as product id"] == 404
    assert planted["card as order id"] == 500
    assert planted["e-mail as idempotency key again"] == 500  # unhandled: the framework's 500
    traces = scenario.stack.jaeger_traces()
    events = [fields for trace in traces for _, fields in _span_events(trace)]
    messages = {f["error.code"]: set() for f in events}
    for fields in events:
        messages[fields["error.code"]].add(fields["exception.message"])
    # the card as product id and as order id (KeyError), masked in the message
    assert messages["SHOP-001"] - {"product 42 does not exist"}, messages["SHOP-001"]
    assert messages["BUG-003"] - {"'total'"}, messages["BUG-003"]
    assert any("already exists" in m for m in messages["DB-1002"]), messages["DB-1002"]
    headers = {t["key"] for trace in traces for span in trace["spans"] for t in span["tags"]
               if t["key"].startswith("http.request.header.")}  # fmt: skip
    assert {"http.request.header.x_request_id", "http.request.header.idempotency_key"} <= headers
    assert not [h for h in headers if "authorization" in h or "api_key" in h], headers


def _sink_texts(scenario: Scenario, sink: str) -> dict[str, str]:
    """Everything a sink holds, as text, by where it came from."""
    stack = scenario.stack
    if sink == "Jaeger":
        return {f"trace {t['traceID']}": json.dumps(t) for t in stack.jaeger_traces()}
    if sink == "Prometheus":
        series = stack.prometheus("/api/v1/series", **{"match[]": '{__name__=~".+"}'},
                                  start=str(time.time() - 3600))  # fmt: skip
        exemplars = stack.prometheus(
            "/api/v1/query_exemplars", query='{__name__=~".+"}', start=str(time.time() - 3600),
            end=str(time.time()),
        )  # fmt: skip
        scrape = http_get(f"{stack.url('gateway_exporter')}/metrics")[1].decode()
        return {"series": json.dumps(series), "exemplars": json.dumps(exemplars),
                "gateway exporter": scrape}  # fmt: skip
    if sink == "Loki":
        return {
            f"OTLP request {i}": json.dumps(MessageToDict(request))
            for i, (_, request) in enumerate(_loki_requests(stack))
        }
    texts = {f"PagerDuty {i}": c.body.decode() for i, c in enumerate(stack.pagerduty.received())}
    texts |= {f"Slack {i}": c.body.decode() for i, c in enumerate(stack.slack.received())}
    texts |= {f"SMS {i}": c.body.decode() for i, c in enumerate(stack.sms.received())}
    texts |= {f"e-mail {i}": m.as_string() for i, m in enumerate(stack.smtp.messages)}
    return texts


@pytest.mark.parametrize("sink", ["Jaeger", "Prometheus", "Loki", "notifications"])
def test_no_planted_secret_reaches(scenario, sink):
    """No planted secret appears anywhere in what the sink received."""
    wait_for(lambda: _pages(scenario.stack, "P2") and _mails(scenario.stack, "P2"),
             "the P2 notifications", 60, details=scenario.details)  # fmt: skip
    texts = _sink_texts(scenario, sink)
    assert texts
    leaks: dict[str, list[str]] = {}
    for where, text in texts.items():
        for name, secret in SECRETS.items():
            # as sent, and percent-encoded as in a URL or query string
            forms = {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)}
            for match in re.finditer("|".join(map(re.escape, forms)), text):
                context = text[max(match.start() - 100, 0) : match.end() + 30]
                leaks.setdefault(name, []).append(f"{where}: ...{context}...")
    report = [f"{name}: {len(found)} times, e.g.\n  " + "\n  ".join(found[:3])
              for name, found in leaks.items()]  # fmt: skip
    assert not leaks, f"secrets reached {sink}:\n" + "\n".join(report)


def _collector_metrics(stack: Stack, port: str) -> dict[str, float]:
    """A collector's own metrics, ``name{labels}`` -> value, from its Prometheus endpoint."""
    text = http_get(f"{stack.url(port)}/metrics")[1].decode()
    samples = (line.rsplit(" ", 1) for line in text.splitlines() if line and line[0] != "#")
    return {series: float(value) for series, value in samples}


def _total(metrics: dict[str, float], name: str, *labels: str) -> float:
    return sum(v for k, v in metrics.items() if k.split("{")[0] == name
               and all(label in k for label in labels))  # fmt: skip


def _send_marker_traces(stack: Stack, count: int, what: str) -> list[str]:
    """``count`` one-span error traces over OTLP/HTTP to the agent; returns their trace ids."""
    trace_ids = [os.urandom(16).hex() for _ in range(count)]
    now = time.time_ns()
    spans = [{"traceId": trace_id, "spanId": os.urandom(8).hex(), "name": what, "kind": 2,
              "startTimeUnixNano": str(now - 1_000_000), "endTimeUnixNano": str(now),
              "status": {"code": 2}} for trace_id in trace_ids]  # fmt: skip
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "durability"}}]}
    body = {"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": spans}]}]}
    requests.post(f"{stack.url('agent_http')}/v1/traces", json=body, timeout=10).raise_for_status()
    return trace_ids


def test_the_gateway_takes_only_tls_with_the_token(stack):
    """The gateway's OTLP receivers refuse plain text and requests without the bearer token."""
    url = f"https://127.0.0.1:{stack.ports['gateway_http']}/v1/traces"
    ca = str(stack.credentials.ca_file)
    token = stack.credentials.token_file.read_text()
    assert requests.post(url, json={}, verify=ca, timeout=10).status_code == 401
    wrong = {"Authorization": "Bearer not-the-token"}
    assert requests.post(url, json={}, verify=ca, headers=wrong, timeout=10).status_code == 401
    right = {"Authorization": f"Bearer {token}"}
    assert requests.post(url, json={}, verify=ca, headers=right, timeout=10).status_code == 200
    plain = requests.post(url.replace("https://", "http://"), json={}, headers=right, timeout=10)
    assert plain.status_code == 400  # Go's answer to plain HTTP on a TLS port
    with pytest.raises(requests.exceptions.SSLError):
        requests.post(url, json={}, headers=right, timeout=10)  # the CA is no public one


def _pipeline_alert(stack: Stack, name: str, exporter: str) -> list[dict[str, Any]]:
    alerts = stack.prometheus("/api/v1/alerts")["alerts"]
    wanted = {"alertname": name, "exporter": exporter, "tier": "gateway"}
    return [a for a in alerts if a["state"] == "firing"
            and all(a["labels"].get(k) == v for k, v in wanted.items())]  # fmt: skip


def test_jaeger_down_fires_the_pipeline_alert_and_a_killed_gateway_loses_nothing(scenario):
    """Jaeger stops: the stalled-exporter alert fires; kill -9 of the gateway keeps its queue.

    Runs last: it stops the traffic and restarts Jaeger, whose traces live in memory.
    Marker traces sent while Jaeger is down wait in the gateway's queue on disk; the
    gateway is killed with SIGKILL, more markers wait in the agent's queue meanwhile,
    and after the gateway and Jaeger come back every marker trace is in Jaeger.
    """
    stack, started = scenario.stack, scenario.stack.services
    scenario.traffic.stop()
    next(s for s in started.started if s.name == "jaeger").stop()
    gateway_metrics = _collector_metrics(stack, "gateway_telemetry")
    accepted = _total(gateway_metrics, "otelcol_receiver_accepted_spans")
    markers = _send_marker_traces(stack, 20, "queued in the gateway")

    def decided_and_queued() -> bool:
        metrics = _collector_metrics(stack, "gateway_telemetry")
        jaeger = 'exporter="otlp_grpc/jaeger"'
        return (
            _total(metrics, "otelcol_receiver_accepted_spans") >= accepted + len(markers)
            and _total(metrics, "otelcol_processor_tail_sampling_sampling_traces_on_memory") == 0
            and _total(metrics, "otelcol_exporter_in_flight_requests", jaeger) > 0
        )

    wait_for(decided_and_queued, "the markers decided and waiting for Jaeger", 60,
             details=scenario.details)  # fmt: skip
    wait_for(lambda: _pipeline_alert(stack, "OtelErrors_CollectorExporterStalled",
                                     "otlp_grpc/jaeger"),
             "the stalled-exporter alert for Jaeger", 90, details=scenario.details)  # fmt: skip
    time.sleep(1)  # the batch processor's 200 ms, with room: every marker is in the queue now
    gateway = next(s for s in started.started if s.name == "gateway")
    os.killpg(gateway.process.pid, signal.SIGKILL)
    gateway.process.wait(timeout=30)
    markers += _send_marker_traces(stack, 20, "queued in the agent")
    stack.commands["gateway"].start(started, "gateway-restarted")
    stack.commands["jaeger"].start(started, "jaeger-restarted")
    url = f"{stack.url('jaeger_query')}/api/traces/"

    def missing() -> list[str]:
        return [trace_id for trace_id in markers if http_get(url + trace_id)[0] != 200]

    wait_for(lambda: not missing(), "every marker trace in Jaeger", 120,
             details=lambda: f"missing: {missing()}\n{scenario.details()}")  # fmt: skip
