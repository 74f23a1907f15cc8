"""Errors across services between three real processes under ``opentelemetry-instrument``.

gateway (A, httpx) -> orders (B, requests) -> payments (C): three Flask services with
their own ``service.name``, ``OTEL_ERRORS_PROPAGATE_ERRORS=true``, each writing its
telemetry with the local exporter. A failure that begins in payments is named as
such by every hop; one that begins in orders names orders.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

BIN = Path(sys.executable).parent
APP = Path(__file__).parent / "across_apps" / "shop_service.py"
ROLES = ("payments", "orders", "gateway")


def _start(role: str, upstream: str, tmp_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    port_file = tmp_path / f"{role}.port"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(
        ROLE=role,
        UPSTREAM=upstream,
        PORT_FILE=str(port_file),
        OTEL_SERVICE_NAME=role,
        OTEL_ERRORS_PROPAGATE_ERRORS="true",
        OTEL_ERRORS_CATALOG=str(APP.parent / "errors.toml"),
        OTEL_ERRORS_LOCAL_DIR=str(tmp_path / role),
        OTEL_BSP_SCHEDULE_DELAY="100",
    )
    process = subprocess.Popen(
        [str(BIN / "opentelemetry-instrument"), sys.executable, str(APP)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while not port_file.exists() or not port_file.read_text():
        assert process.poll() is None, f"{role} exited"
        assert time.monotonic() < deadline, f"{role} did not start"
        time.sleep(0.05)
    return process, f"http://127.0.0.1:{port_file.read_text()}"


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """The three services, started inner first; stopped with SIGTERM (telemetry flushed)."""
    tmp_path = tmp_path_factory.mktemp("shop")
    processes = []
    upstream = ""
    try:
        for role in ROLES:
            process, upstream = _start(role, upstream, tmp_path)
            processes.append(process)
        yield upstream, tmp_path
    finally:
        for process in reversed(processes):
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(timeout=30)


def _events(directory: Path) -> list[dict[str, object]]:
    spans_file = directory / "spans.jsonl"
    spans = [json.loads(line) for line in spans_file.read_text().splitlines()]
    return [e["attributes"] for s in spans for e in s["events"] if e["name"] == "exception"]


def _wait_for_events(directory: Path, code: str) -> dict[str, object]:
    deadline = time.monotonic() + 20
    while True:
        found = []
        if (directory / "spans.jsonl").exists():
            found = [e for e in _events(directory) if e["error.code"] == code]
        if found:
            return found[-1]
        assert time.monotonic() < deadline, f"no {code} event in {directory}"
        time.sleep(0.1)


def _wire(response: requests.Response) -> dict[str, str]:
    headers = response.headers.items()
    return {k.title(): v for k, v in headers if k.lower().startswith("otel-errors-")}


def test_a_failure_in_payments_is_named_by_every_hop(shop):
    """C fails with PAY-001: B's and A's events say origin payments, and so does A's answer."""
    gateway, data = shop
    response = requests.get(f"{gateway}/checkout/order", timeout=30)
    assert response.status_code == 500
    assert _wire(response) == {
        "Otel-Errors-Code": "HTTP-502",
        "Otel-Errors-Service": "gateway",
        "Otel-Errors-Origin": "payments",
        "Otel-Errors-Origin-Code": "PAY-001",
    }
    at_c = _wait_for_events(data / "payments", "PAY-001")
    assert "error.origin.service" not in at_c
    at_b = _wait_for_events(data / "orders", "ORD-502")
    assert (at_b["error.upstream.service"], at_b["error.upstream.code"]) == ("payments", "PAY-001")
    assert (at_b["error.origin.service"], at_b["error.origin.code"]) == ("payments", "PAY-001")
    at_a = _wait_for_events(data / "gateway", "HTTP-502")
    assert (at_a["error.upstream.service"], at_a["error.upstream.code"]) == ("orders", "ORD-502")
    assert (at_a["error.origin.service"], at_a["error.origin.code"]) == ("payments", "PAY-001")


def test_a_failure_beginning_in_orders_names_orders(shop):
    """B's own bug: A's answer and A's event say origin orders, with B's code."""
    gateway, data = shop
    response = requests.get(f"{gateway}/checkout/bug", timeout=30)
    assert response.status_code == 500
    wire = _wire(response)
    assert (wire["Otel-Errors-Origin"], wire["Otel-Errors-Origin-Code"]) == ("orders", "BUG-005")
    at_a = _wait_for_events(data / "gateway", "HTTP-500")
    assert (at_a["error.origin.service"], at_a["error.upstream.code"]) == ("orders", "BUG-005")
