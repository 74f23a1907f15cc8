"""Whole processes under ``opentelemetry-instrument``, vanilla distro against otel_errors.

Shared by the start-up benchmark and the launcher span benchmarks. Two environments
from one lock (``benchmarks/startup.txt``: flask, requests and httpx with their
contrib instrumentations and OTLP export), one with the vanilla
``opentelemetry-distro``, one with otel_errors built from this checkout; they are the
parity harness's kind of environment, cached the same way
(``${OTEL_ERRORS_CACHE:-~/.cache/otel-errors}/parity``; set ``OTEL_ERRORS_CACHE`` to a
folder of your own when another checkout may run these benchmarks at the same time,
since each run installs its checkout into the cached otel_errors environment). Both
export OTLP over HTTP to a collector stand-in on 127.0.0.1, so neither pays for retries.

Figures are CPU time (user + system) of the child, steadier than wall time on a
shared machine; the sides alternate run by run (and which goes first alternates too),
so a noisy neighbour hits both alike.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "parity"))
import harness
from _collector_standin import CollectorStandIn

LOCK = Path(__file__).with_name("startup.txt")
SIDES = harness.SIDES
"""``vanilla`` and ``otel_errors``."""


@pytest.fixture(scope="module")
def pythons() -> dict[str, Path]:
    """The two environments' Pythons (built once, then cached)."""
    cache = harness.cache_dir()
    with harness.locked(cache):
        found = {
            side: harness.ensure_venv("startup", LOCK, side, cache, bootstrap=False)
            for side in harness.SIDES
        }
        harness.install_checkout(found["otel_errors"], cache)
    return found


@pytest.fixture(scope="module")
def environment(pythons: dict[str, Path]) -> Iterator[dict[str, dict[str, str]]]:
    """Each side's environment: the harness's clean one, OTLP to a stand-in on loopback.

    The batch span processor's queue holds every span a benchmark process makes, so
    that neither side drops spans (dropping would be cheaper than exporting).
    """
    standin = CollectorStandIn(grpc_receiver=False, keep=False)
    otlp = {
        "OTEL_SERVICE_NAME": "startup",
        "OTEL_EXPORTER_OTLP_ENDPOINT": standin.http_endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_LOGS_EXPORTER": "otlp",
        "OTEL_BSP_MAX_QUEUE_SIZE": "65536",
    }
    yield {side: harness.child_env(python, otlp) for side, python in pythons.items()}
    standin.close()


def cpu_of(command: list[str], env: dict[str, str]) -> float:
    """CPU seconds (user + system) of one run of ``command``, outside the checkout."""
    with tempfile.TemporaryDirectory() as elsewhere:  # no ./otel_errors on sys.path
        process = subprocess.Popen(
            command, cwd=elsewhere, env=env, stdin=subprocess.DEVNULL, start_new_session=True
        )
        exit_code, cpu = harness.wait(process, timeout=120)
    assert exit_code == 0, command
    return cpu


def output_of(command: list[str], env: dict[str, str]) -> str:
    """What ``command`` prints, run outside the checkout."""
    with tempfile.TemporaryDirectory() as elsewhere:
        return subprocess.run(
            command, cwd=elsewhere, env=env, capture_output=True, text=True, check=True, timeout=300
        ).stdout


def launcher(python: Path, *arguments: str) -> list[str]:
    """``opentelemetry-instrument python ARGUMENTS`` in ``python``'s environment."""
    return [str(python.parent / "opentelemetry-instrument"), str(python), *arguments]


def interleaved(
    commands: dict[str, list[str]],
    envs: dict[str, dict[str, str]],
    rounds: int,
    measure: Callable[[list[str], dict[str, str]], float] = cpu_of,
) -> dict[str, list[float]]:
    """``measure`` of each command, ``rounds`` times, alternating (and alternating who starts)."""
    samples: dict[str, list[float]] = {name: [] for name in commands}
    names = list(commands)
    for round_ in range(rounds):
        for name in names if round_ % 2 == 0 else names[::-1]:
            samples[name].append(measure(commands[name], envs[name]))
    return samples
