"""End to end across services: one fault in payments, three services, one page.

gateway (A, Flask, httpx) -> orders (B, Flask, gRPC client) -> payments (C, grpcio
server), each under ``opentelemetry-instrument`` with its own ``service.name``,
``OTEL_ERRORS_PROPAGATE_ERRORS=true`` and OTLP to the agent of the stack that
``test_e2e_stack`` starts (collectors, Jaeger, Prometheus, Alertmanager and the
PagerDuty, Slack, SMS and mail stand-ins), with rules generated from the shop's
``tests/across_apps/errors.toml`` and the test policy of ``test_e2e_stack``.
Alertmanager keeps the shipped ``group_wait`` (10 s for P1, 30 s else) so that the
three services' alerts all reach it before a group's first notification.

Every checkout fails in payments (``PAY-001``, P1); orders raises ``ORD-502`` (P1)
from the gRPC failure and the gateway lets httpx's ``HTTPStatusError`` for the 502
escape (``HTTP-502``, P2). Proved here: Jaeger's spans name payments as the origin at
each hop; ``errors_total`` carries it for the callers; all three alerts fire in
Prometheus, the callers' with ``error_origin_service="payments"``; Alertmanager
inhibits the callers' alerts, so payments' owner gets exactly one page and the
gateway's and orders' owners none. The notification counts are printed.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from _e2e_processes import Services, get_json, services, wait_for
from test_e2e_stack import (  # noqa: F401 - binaries is a fixture this module uses
    BIN,
    Stack,
    _clean_env,
    binaries,
    running_stack,
)

from otel_errors._internal.tooling.dashboards import ALL, panel_queries

APPS = Path(__file__).resolve().parent / "across_apps"
CATALOG = APPS / "errors.toml"
ENVIRONMENT = "e2e"
CALLERS = ("orders", "gateway")
SERVICES = ("payments", *CALLERS)
CHECKOUTS = 10
"""Failing checkouts: enough for the gateway's P2 (3 errors, 5 requests in the test policy)."""
EXPECTED_ALERTS = {
    "payments": "OtelErrors_PAY_001",
    "orders": "OtelErrors_ORD_502",
    "gateway": "OtelErrors_HTTP_502",
}
pytestmark = pytest.mark.e2e


@dataclass
class Shop:
    """The stack and the three services after the failing checkouts."""

    stack: Stack
    started: Services

    def details(self) -> str:
        return self.started.logs() + self.stack.details()

    def traces(self) -> list[dict[str, Any]]:
        url = f"{self.stack.url('jaeger_query')}/api/traces?service=gateway&lookback=1h&limit=100"
        return list(get_json(url, 60)["data"])

    def firing(self) -> dict[str, dict[str, str]]:
        """Labels of each service's firing alert among ``EXPECTED_ALERTS``, by service."""
        alerts = self.stack.prometheus("/api/v1/alerts")["alerts"]
        expected = set(EXPECTED_ALERTS.items())
        return {
            a["labels"]["service_name"]: a["labels"]
            for a in alerts
            if a["state"] == "firing"
            and (a["labels"].get("service_name"), a["labels"]["alertname"]) in expected
        }


@pytest.fixture(scope="module")
def stack(binaries, tmp_path_factory) -> Iterator[Stack]:  # noqa: F811 - the imported fixture
    """The stack of ``test_e2e_stack`` with rules from the three services' catalogue."""
    yield from running_stack(binaries, tmp_path_factory, CATALOG, shipped_group_waits=True)


def _start(started: Services, name: str, script: str, env: dict[str, str]) -> str:
    """Starts one service under the launcher; its address once it listens."""
    port_file = started.directory / f"{name}.port"
    env = {**env, "ROLE": name, "OTEL_SERVICE_NAME": name, "PORT_FILE": str(port_file)}
    service = started.start(
        name, [str(BIN / "opentelemetry-instrument"), sys.executable, str(APPS / script)], env
    )

    def listening() -> str:
        assert service.running(), f"{name} exited:\n{service.log_tail()}"
        return port_file.read_text() if port_file.exists() else ""

    return f"127.0.0.1:{wait_for(listening, f'{name} listening', 60)}"


@pytest.fixture(scope="module")
def shop(stack, tmp_path_factory) -> Iterator[Shop]:
    """The three services, and the failing checkouts sent through the gateway."""
    env = {
        **_clean_env(),
        "OTEL_RESOURCE_ATTRIBUTES": f"deployment.environment.name={ENVIRONMENT}",
        "OTEL_EXPORTER_OTLP_ENDPOINT": stack.url("agent_http"),
        "OTEL_ERRORS_CATALOG": str(CATALOG),
        "OTEL_ERRORS_PROPAGATE_ERRORS": "true",
        "OTEL_METRIC_EXPORT_INTERVAL": "1000",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
    }
    with services(tmp_path_factory.mktemp("across")) as started:
        payments = _start(started, "payments", "payments_grpc.py", env)
        orders = _start(started, "orders", "shop_service.py", {**env, "PAYMENTS_GRPC": payments})
        gateway = _start(started, "gateway", "shop_service.py",
                         {**env, "UPSTREAM": f"http://{orders}"})  # fmt: skip
        shop = Shop(stack, started)
        for _ in range(CHECKOUTS):
            answer = requests.get(f"http://{gateway}/checkout/order-by-grpc", timeout=30)
            assert answer.status_code == 500, (answer.status_code, shop.details())
            assert answer.headers["Otel-Errors-Origin"] == "payments", answer.headers
        yield shop


def _tags(span: dict[str, Any]) -> dict[str, Any]:
    return {tag["key"]: tag["value"] for tag in span["tags"]}


def _by_service(trace: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The spans of a Jaeger trace by service, each with its tags and exception events."""
    found: dict[str, list[dict[str, Any]]] = {}
    for span in trace["spans"]:
        service = trace["processes"][span["processID"]]["serviceName"]
        events = [{f["key"]: f["value"] for f in log["fields"]} for log in span.get("logs", [])]
        exceptions = [e for e in events if e.get("event") == "exception"]
        found.setdefault(service, []).append({"tags": _tags(span), "exceptions": exceptions})
    return found


def test_jaeger_names_the_origin_at_every_hop(shop):
    """One trace crosses the three services; each caller's events and client span say payments."""

    def complete() -> dict[str, list[dict[str, Any]]]:
        for trace in shop.traces():
            spans = _by_service(trace)
            if set(spans) == set(SERVICES):
                return spans
        return {}

    spans = wait_for(complete, "a trace through gateway, orders and payments", 90,
                     details=shop.details)  # fmt: skip
    events = {
        service: [e for s in found for e in s["exceptions"]] for service, found in spans.items()
    }
    pay = [e for e in events["payments"] if e["error.code"] == "PAY-001"]
    assert pay, events["payments"]
    assert "error.origin.service" not in pay[0]
    order = next(e for e in events["orders"] if e["error.code"] == "ORD-502")
    assert (order["error.upstream.service"], order["error.upstream.code"]) == (
        "payments",
        "PAY-001",
    )
    assert (order["error.origin.service"], order["error.origin.code"]) == ("payments", "PAY-001")
    gateway = next(e for e in events["gateway"] if e["error.code"] == "HTTP-502")
    assert (gateway["error.upstream.service"], gateway["error.upstream.code"]) == (
        "orders",
        "ORD-502",
    )
    assert (gateway["error.origin.service"], gateway["error.origin.code"]) == (
        "payments",
        "PAY-001",
    )
    for caller in CALLERS:
        # the client span of the failed call (gRPC in orders, httpx in the gateway)
        origins = {s["tags"].get("error.origin.service") for s in spans[caller]}
        assert "payments" in origins, (caller, spans[caller])


def test_the_callers_count_their_errors_by_origin(shop):
    """errors_total carries the origin for the callers only; the dashboard panel shows it."""

    def origins() -> dict[str, str]:
        query = 'errors_total{error_origin_service!=""}'
        found = shop.stack.prometheus("/api/v1/query", query=query)["result"]
        series = {r["metric"]["service_name"]: r["metric"]["error_origin_service"] for r in found}
        return series if set(series) == set(CALLERS) else {}

    assert wait_for(origins, "the callers' errors by origin", 60, details=shop.details) == {
        "orders": "payments",
        "gateway": "payments",
    }
    query = panel_queries()["Errors per second by origin service"][0]
    for variable, value in {"$service": ALL, "$environment": ALL, "$__rate_interval": "1m"}.items():
        query = query.replace(variable, value)
    expected = {("payments", "payments"), ("payments", "orders"), ("payments", "gateway")}

    def panel() -> set[tuple[str, str]]:
        # rate() needs two samples of a series: a caller's first scrape is no rate yet.
        result = shop.stack.prometheus("/api/v1/query", query=query)["result"]
        shown = {(r["metric"]["origin_service"], r["metric"]["service_name"]) for r in result}
        return shown if shown >= expected else set()

    assert wait_for(panel, "the panel's rates by origin", 60, details=shop.details) == expected


def test_one_page_for_the_origin_and_the_callers_inhibited(shop):
    """The three alerts fire; Alertmanager pages payments once and inhibits orders and gateway."""

    def all_firing() -> dict[str, dict[str, str]]:
        firing = shop.firing()
        return firing if len(firing) == len(SERVICES) else {}

    firing = wait_for(all_firing, "the three alerts firing", 120, details=shop.details)
    assert "error_origin_service" not in firing["payments"]
    assert firing["payments"]["origin_service"] == "payments"
    for caller in CALLERS:
        assert firing[caller]["error_origin_service"] == "payments", firing[caller]
        assert firing[caller]["origin_service"] == "payments", firing[caller]
    manager = shop.stack.url("alertmanager")

    def inhibited() -> list[dict[str, Any]]:
        alerts = [a for a in get_json(f"{manager}/api/v2/alerts")
                  if a["labels"].get("service_name") in CALLERS]  # fmt: skip
        suppressed = [a for a in alerts if a["status"]["inhibitedBy"]]
        return (
            suppressed if {a["labels"]["service_name"] for a in suppressed} == set(CALLERS) else []
        )

    wait_for(inhibited, "the callers' alerts inhibited", 60, details=shop.details)
    wait_for(lambda: _pages(shop, "payments"), "the page for payments", 60, details=shop.details)
    # The callers' groups wait 30 s (P2) or 10 s (P1) before their first notification:
    # let that pass twice over, then count everything each stand-in received.
    threading.Event().wait(65)
    counts = {service: _counts(shop, service) for service in SERVICES}
    sys.stdout.write(
        f"\nnotifications per service for one fault in payments: {json.dumps(counts)}\n"
    )
    assert counts["payments"]["pagerduty"] == 1, counts
    for caller in CALLERS:
        assert sum(counts[caller].values()) == 0, counts
    still = [a["labels"]["service_name"] for a in inhibited()]
    assert sorted(set(still)) == sorted(CALLERS)


def _pages(shop: Shop, service: str) -> list[dict[str, Any]]:
    return [p for p in shop.stack.pages()
            if p["payload"]["custom_details"]["service"] == service]  # fmt: skip


def _counts(shop: Shop, service: str) -> dict[str, int]:
    """Notifications about ``service`` that each stand-in received."""
    stack = shop.stack
    needle = json.dumps(service)
    return {
        "pagerduty": len(_pages(shop, service)),
        "email": sum(1 for m in stack.smtp.messages if f"] {service} (" in str(m["Subject"])),
        "sms": sum(1 for c in stack.sms.received() if needle in c.body.decode()),
        "slack": sum(1 for c in stack.slack.received() if f"] {service} (" in c.body.decode()),
    }
