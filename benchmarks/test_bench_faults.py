"""The example shop's request latency while the collector misbehaves, against no telemetry.

The shop (FastAPI; PostgreSQL and Redis when tests/servers.sh runs, its in-memory
stand-ins otherwise) runs once without telemetry (plain Python: the baseline) and
once under the launcher per fault of the collector stand-in (OTLP over HTTP: ok,
down, slow (2 s per answer), throttle (429), unavailable (503), drop). One round is a
good request (``GET /products/1``) and one whose dependency fails, recorded as a
handled error (``GET /recommendations/7``: the recommender is down, NET-001, and the
answer is the fallback either way). Each group compares one fault with the baseline.
Exports run in the SDK's batch threads: a failing collector should cost requests no
more than a healthy one.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from _collector_standin import CollectorStandIn
from _shop import running_shop, shop_environment

FAULTS = ("ok", "down", "slow", "throttle", "unavailable", "drop")
ROUNDS = 200


class Shops:
    """Shops started on first use, one per fault plus the baseline, all stopped at the end."""

    def __init__(self, stack: contextlib.ExitStack, workdir: Path) -> None:
        """Starts nothing yet; ``stack`` stops what :meth:`base` starts."""
        self.stack, self.workdir = stack, workdir
        self.bases: dict[str, str] = {}

    def base(self, fault: str | None) -> str:
        key = fault or "no telemetry"
        if key not in self.bases:
            self.bases[key] = self._start(fault)
        return self.bases[key]

    def _start(self, fault: str | None) -> str:
        env = shop_environment(
            postgres_dsn=os.environ.get("OTEL_ERRORS_TEST_POSTGRES_DSN", ""),
            redis_url=os.environ.get("OTEL_ERRORS_TEST_REDIS_URL", ""),
            OTEL_ERRORS_LOG_CONSOLE_JSON="false",
        )
        if fault is not None:
            collector = self.stack.enter_context(_collector(fault))
            env["OTEL_EXPORTER_OTLP_ENDPOINT"] = collector.http_endpoint
        workdir = self.workdir / (fault or "baseline")
        workdir.mkdir()
        how = "plain" if fault is None else "launcher"
        return self.stack.enter_context(running_shop(env, workdir, how=how)).base


@contextlib.contextmanager
def _collector(fault: str) -> Iterator[CollectorStandIn]:
    standin = CollectorStandIn(delay=2.0, keep=False)
    if fault == "down":
        standin.down()
    elif fault != "ok":
        standin.mode = fault
    try:
        yield standin
    finally:
        standin.close()


@pytest.fixture(scope="module")
def shops(tmp_path_factory) -> Iterator[Shops]:
    with contextlib.ExitStack() as stack:
        yield Shops(stack, tmp_path_factory.mktemp("shops"))


def _round(session: requests.Session, base: str) -> None:
    assert session.get(f"{base}/products/1", timeout=10).status_code == 200
    assert session.get(f"{base}/recommendations/7", timeout=10).status_code == 200


def _measure(benchmark, base: str, group: str) -> None:
    benchmark.group = group
    with requests.Session() as session:
        benchmark.pedantic(_round, args=(session, base), rounds=ROUNDS, warmup_rounds=20)


@pytest.mark.parametrize("fault", FAULTS)
def test_no_telemetry(benchmark, shops, fault):
    """Baseline: the shop without any telemetry, in each fault's group."""
    _measure(benchmark, shops.base(None), f"shop request pair, collector {fault}")


@pytest.mark.parametrize("fault", FAULTS)
def test_otel_errors(benchmark, shops, fault):
    """The shop under the launcher, exporting to a collector with this fault."""
    _measure(benchmark, shops.base(fault), f"shop request pair, collector {fault}")
