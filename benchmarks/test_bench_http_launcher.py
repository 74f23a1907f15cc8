"""HTTP client success path, whole processes under the launcher: vanilla vs otel_errors.

Each run is one process, ``opentelemetry-instrument python http_client_workload.py
CLIENT URL N``, in the start-up benchmark's two environments (``_launcher.py``: flask,
requests and httpx with their contrib instrumentations, the vanilla distro or
otel_errors), exporting OTLP/HTTP through the batch span processor to a collector
stand-in on 127.0.0.1. It makes ``N`` GETs answered 200 by a keep-alive server on
127.0.0.1 (``ok_server.py``, a process of its own, so its CPU is never counted) and
reports its own CPU time over them and the flush that exports their spans (every
thread), start-up excluded. The sides alternate run by run, and which goes first
alternates too.

This is the most faithful form of issue 17's budget: everything otel_errors adds to a
successful call when it is the distribution (its pipeline, SDK patch and every client
instrumentor it loads: for requests, the requests and urllib3 ones) against contrib's
instrumentation alone. Both sides run with otel_errors's defaults for the settings
that change what contrib itself does (``SAME_SETTINGS``): gzip export, as in
``test_bench_launcher.py``, and the stable HTTP semantic conventions
(``OTEL_SEMCONV_STABILITY_OPT_IN=http``, with which contrib sets more attributes on
every client span, and which, with ``OTEL_PROPAGATORS``, also makes the environment
that requests scans for proxies on every call as long on both sides). The figures
compare what each distribution does per call, not a setting: with each distro's own
defaults, otel_errors's side also pays contrib's stable conventions (see the README).

Printed per client (``_paired.py``): the paired ratio otel_errors / vanilla (the median
over rounds of the ratio of a round's two runs, which ran back to back), the ratio of
the medians and of the minimums, each side's median per call, and the target (<= 1.03,
on the paired ratio).

In the normal test run (``--benchmark-disable``) this is a smoke round: one short run a
side per client. To measure:

    OTEL_ERRORS_CACHE=/tmp/my-cache .venv/bin/pytest benchmarks/test_bench_http_launcher.py \
        --benchmark-enable

(``ROUNDS`` runs a side per client; ``OTEL_ERRORS_BENCH_ROUNDS`` overrides it).
"""

from __future__ import annotations

import json
import os
import statistics
from collections.abc import Iterator
from pathlib import Path

import http_client_workload
import pytest
from _launcher import SIDES, environment, interleaved, launcher, output_of, pythons
from _paired import ratios
from ok_server import ok_server

pytestmark = pytest.mark.parity  # the newest locked line only, like the harness's environments
__all__ = ["environment", "pythons"]  # fixtures

ROUNDS = 15
"""Runs a side per client when measuring."""
CALLS = 2000
"""Measured calls a process."""
SMOKE_ROUNDS = 1
SMOKE_CALLS = 10
TARGET = 1.03
SAME_SETTINGS = {
    "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
    "OTEL_SEMCONV_STABILITY_OPT_IN": "http",
    "OTEL_PROPAGATORS": "tracecontext,baggage",
}
"""otel_errors's defaults, given to both sides (see the module's docstring)."""
WORKLOAD = Path(http_client_workload.__file__).resolve()


def calls_cpu(command: list[str], env: dict[str, str]) -> float:
    """The CPU seconds a workload process reports for its measured calls."""
    return float(json.loads(output_of(command, env).strip().splitlines()[-1])["cpu"])


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with ok_server() as found:
        yield found


@pytest.fixture(scope="module")
def exporting(environment) -> dict[str, dict[str, str]]:
    """Each side's environment, with ``SAME_SETTINGS``."""
    return {side: {**env, **SAME_SETTINGS} for side, env in environment.items()}


@pytest.mark.parametrize("client", list(http_client_workload.CLIENTS))
def test_launcher_client_cpu(benchmark, client, url, pythons, exporting, summary_lines):  # noqa: PLR0917 - fixtures
    measuring = not benchmark.disabled
    rounds = int(os.environ.get("OTEL_ERRORS_BENCH_ROUNDS", ROUNDS)) if measuring else SMOKE_ROUNDS
    calls = CALLS if measuring else SMOKE_CALLS
    commands = {
        side: launcher(pythons[side], str(WORKLOAD), client, url, str(calls)) for side in SIDES
    }
    benchmark.group = f"launcher, {client} GET 200, whole process"
    benchmark.name = "both sides, interleaved"
    samples = benchmark.pedantic(
        interleaved, args=(commands, exporting, rounds, calls_cpu), rounds=1, iterations=1
    )
    vanilla, ours = samples["vanilla"], samples["otel_errors"]
    assert all(cpu > 0 for cpu in vanilla + ours)
    summary_lines.append(
        f"{client} GET 200, whole processes: {calls} calls a process, {rounds} interleaved "
        f"runs a side: contrib {statistics.median(vanilla) / calls * 1e6:.0f} us/call, "
        f"otel_errors {statistics.median(ours) / calls * 1e6:.0f} us/call; "
        f"{ratios(vanilla, ours)} (target <= {TARGET}, paired)"
    )
