"""The shop example run for real: under the launcher, and with ``import otel_errors.auto``.

The shop, its fake payment provider and the traffic driver run as separate processes
on 127.0.0.1; the embedded default writes JSON lines that the test and
``otel-errors report`` read. Each way in runs twice: in the test environment (an
editable install) and in a fresh virtual environment where ``pip install .`` put a
built wheel, as a user gets it (package data, entry points and ``py.typed`` included).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from _e2e_processes import free_port
from _shop import SHOP, running_shop, shop_environment

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
def installed_bin(tmp_path_factory) -> Path:
    """``bin/`` of a fresh virtual environment with ``pip install .`` and the shop's needs."""
    venv = tmp_path_factory.mktemp("fresh") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
         str(ROOT), "-r", str(ROOT / "examples" / "requirements.txt")],
        check=True, timeout=600,
    )  # fmt: skip
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import otel_errors; print(otel_errors.__file__)"],
        cwd=venv, capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    assert where.startswith(str(venv)), where  # the wheel, not the working tree
    return venv / "bin"


@dataclass
class ShopRun:
    """What one run of the shop left: spans, the data directory, the shop's stderr."""

    spans: list[dict[str, Any]]
    data: Path
    stderr: str
    bin: Path
    """The environment's ``bin/``: its ``otel-errors`` reads the data."""


def run_shop(
    data: Path,
    postgres_dsn: str,
    redis_url: str,
    *,
    bin_dir: Path = BIN,
    launcher: bool = True,
    env_extra: dict[str, str] | None = None,
    traffic: tuple[str, ...] = ("--requests", "60"),
) -> str:
    """Runs the shop and its payment provider, drives ``traffic.py`` at it, stops both.

    The embedded default writes into ``data``. Returns the shop's stderr (its JSON logs).
    """
    env = shop_environment(
        postgres_dsn=postgres_dsn,
        redis_url=redis_url,
        OTEL_ERRORS_LOCAL_DIR=str(data),
        **(env_extra or {}),
    )
    how = "launcher" if launcher else "auto"
    with running_shop(env, data.parent, bin_dir=bin_dir, how=how) as shop:
        subprocess.run(
            [str(bin_dir / "python"), str(SHOP / "traffic.py"), "--base", shop.base, *traffic],
            env=env, check=True, timeout=120, cwd=data.parent,
        )  # fmt: skip
    return shop.stderr.read_text(errors="replace")


@pytest.fixture(scope="module", params=["launcher", "auto", "installed-launcher", "installed-auto"])
def shop_run(request, tmp_path_factory, postgres_dsn, redis_url) -> ShopRun:
    """Runs the shop with traffic once per way in; the tests only read what it wrote."""
    bin_dir = request.getfixturevalue("installed_bin") if "installed" in request.param else BIN
    data = tmp_path_factory.mktemp(request.param) / "data"
    launcher = request.param.endswith("launcher")
    stderr = run_shop(data, postgres_dsn, redis_url, bin_dir=bin_dir, launcher=launcher)
    spans = [json.loads(line) for line in (data / "spans.jsonl").read_text().splitlines()]
    return ShopRun(spans, data, stderr, bin_dir)


def events(spans):
    return [
        (span, event["attributes"])
        for span in spans
        for event in span["events"]
        if event["name"] == "exception"
    ]


def test_failures_carry_the_right_codes(shop_run):
    """Each failure of the shop is recorded with its catalogue code and handled flag."""
    codes = {attrs["error.code"]: attrs for _, attrs in events(shop_run.spans)}
    expected = ("SHOP-001", "SHOP-002", "PAY-001", "PAY-002", "PAY-003", "BUG-003", "BUG-005",
                "DB-1002", "CACHE-002", "CACHE-011", "NET-001")  # fmt: skip
    for code in expected:
        assert code in codes, (code, sorted(codes), shop_run.stderr[-2000:])
    assert codes["SHOP-001"]["error.handled"] is True
    assert codes["PAY-001"]["error.severity"] == "P1"
    assert codes["BUG-005"]["error.handled"] is False
    assert codes["BUG-005"]["exception.type"] == "ZeroDivisionError"
    assert codes["DB-1002"]["exception.type"] == "psycopg.errors.UniqueViolation"
    assert codes["CACHE-002"]["exception.type"] == "redis.exceptions.TimeoutError"
    assert "otel_errors: internal failure" not in shop_run.stderr


def test_server_spans_of_bugs_fail_with_the_code(shop_run):
    """Requests that hit a bug end in an ERROR server span whose error.type is the code."""
    route = "/orders/{order_id}/average"
    failed = [
        s for s in shop_run.spans
        if s["kind"] == "SERVER" and s["attributes"].get("http.route") == route
        and s["status"]["code"] == "ERROR"
    ]  # fmt: skip
    assert {s["attributes"]["error.type"] for s in failed} == {"BUG-003", "BUG-005"}


def test_each_exception_is_recorded_once_per_trace(shop_run):
    """No trace holds the same failure twice."""
    seen = Counter(
        (span["trace_id"], attrs["error.fingerprint"], attrs["exception.message"])
        for span, attrs in events(shop_run.spans)
    )
    assert max(seen.values()) == 1


def test_report_shows_the_codes(shop_run):
    """otel-errors report lists the shop's codes with titles from its catalogue."""
    result = subprocess.run(
        [str(shop_run.bin / "otel-errors"), "report", "--dir", str(shop_run.data), "--catalog",
         str(SHOP / "errors.toml")],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    assert "Payment provider unavailable" in result.stdout
    assert "POST /orders" in result.stdout


def test_without_dependencies_the_shop_falls_back_and_says_so(tmp_path):
    """Unreachable PostgreSQL and Redis: the shop starts on stand-ins and tells why."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "SHOP_"))}
    closed = free_port()
    env.update(
        OTEL_ERRORS_LOCAL_DIR=str(tmp_path),
        SHOP_DATABASE_URL=f"postgresql://postgres@127.0.0.1:{closed}/postgres",
        SHOP_REDIS_URL=f"redis://127.0.0.1:{closed}/0",
    )
    script = "import runpy; runpy.run_path({path!r})".format(path=str(SHOP / "app.py"))
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60,
        check=True,
    )  # fmt: skip
    assert "the product store at SHOP_DATABASE_URL is not reachable" in result.stdout
    assert "the cache at SHOP_REDIS_URL is not reachable" in result.stdout


def test_failures_are_answered_with_problem_details(tmp_path):
    """The shop's failures come back as problem+json with code, trace id and request id."""
    shop_port, payments_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(
        OTEL_ERRORS_LOCAL_DIR=str(tmp_path),
        OTEL_ERRORS_CATALOG=str(SHOP / "errors.toml"),
        SHOP_PORT=str(shop_port),
        SHOP_PAYMENTS_URL=f"http://127.0.0.1:{payments_port}",
    )
    command = [str(BIN / "opentelemetry-instrument"), sys.executable, str(SHOP / "app.py")]
    shop = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{shop_port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"{base}/health", timeout=1)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "shop did not start"
                time.sleep(0.2)
        missing = requests.get(f"{base}/products/42", headers={"X-Request-ID": "t-1"}, timeout=5)
        unavailable = requests.post(
            f"{base}/orders", json={"product_id": 1, "quantity": 1, "card": "1"}, timeout=5
        )
    finally:
        shop.send_signal(signal.SIGTERM)
        shop.wait(timeout=30)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    body = missing.json()
    assert (body["code"], body["request_id"], len(body["trace_id"])) == ("SHOP-001", "t-1", 32)
    assert (unavailable.status_code, unavailable.json()["code"]) == (503, "PAY-001")


def test_errors_and_request_counts_per_endpoint_are_exported(shop_run):
    """The two halves of the error rate: errors_total and request counts, per route."""
    metrics = (shop_run.data / "metrics.jsonl").read_text().splitlines()
    points = [json.loads(line) for line in metrics]
    errors = [p for p in points if p["name"] == "errors"]
    requests_ = [p for p in points if p["name"] == "http.server.request.duration"]
    route = "/orders/{order_id}/average"
    by_code = {
        p["attributes"]["error.code"]: p
        for p in errors
        if p["attributes"].get("http.route") == route
    }
    assert {"BUG-003", "BUG-005"} <= set(by_code), sorted(by_code)
    assert by_code["BUG-005"]["attributes"]["error.severity"]
    assert by_code["BUG-005"]["value"] >= 1
    assert by_code["BUG-005"]["exemplar_trace_ids"]
    counted = {p["attributes"].get("http.route"): p["count"] for p in requests_}
    assert counted.get(route, 0) >= by_code["BUG-005"]["value"], counted
