"""Launcher start-up: CPU of ``opentelemetry-instrument python -c pass``, vanilla vs otel_errors.

Two environments from one lock (``benchmarks/startup.txt``: flask, requests and httpx
with their contrib instrumentations and OTLP export), one with the vanilla
``opentelemetry-distro``, one with otel_errors built from this checkout; they are
the parity harness's kind of environment, cached the same way
(``${OTEL_ERRORS_CACHE:-~/.cache/otel-errors}/parity``). Both export OTLP over HTTP
to a collector stand-in on 127.0.0.1, so neither pays for retries.

The figure is CPU time (user + system, from ``os.wait4``) of the child, which is
steadier than wall time on a shared machine; the sides alternate run by run (and
which goes first alternates too), so a noisy neighbour hits both alike. Printed:
the median ratio and the ratio of the minimums (target for issue 11: <= 1.10), and
what ``import otel_errors`` adds over ``import opentelemetry.sdk.trace`` (CPU ms and
modules), plus the top-level packages the launcher imports under otel_errors that it
does not import under vanilla.

In the normal test run (``--benchmark-disable``) this is a smoke round: two runs a
side. ``pytest benchmarks/test_bench_startup.py --benchmark-enable`` measures
(``ROUNDS`` runs a side).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "parity"))
import harness
from _collector_standin import CollectorStandIn

pytestmark = pytest.mark.parity  # the newest locked line only, like the harness's environments

ROUNDS = 30
"""Launcher runs a side when measuring."""
SMOKE_ROUNDS = 2
LOCK = Path(__file__).with_name("startup.txt")
_MODULES = "import json, sys; print(json.dumps(sorted(sys.modules)))"


@pytest.fixture(scope="module")
def pythons():
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
def environment(pythons):
    """Each side's environment: the harness's clean one, OTLP to a stand-in on loopback."""
    standin = CollectorStandIn(grpc_receiver=False)
    otlp = {
        "OTEL_SERVICE_NAME": "startup",
        "OTEL_EXPORTER_OTLP_ENDPOINT": standin.http_endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_LOGS_EXPORTER": "otlp",
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
    with tempfile.TemporaryDirectory() as elsewhere:
        return subprocess.run(
            command, cwd=elsewhere, env=env, capture_output=True, text=True, check=True, timeout=120
        ).stdout


def launcher(python: Path, code: str) -> list[str]:
    return [str(python.parent / "opentelemetry-instrument"), str(python), "-c", code]


def interleaved(commands: dict[str, list[str]], envs: dict[str, str], rounds: int) -> dict:
    """CPU seconds of each command, ``rounds`` times, alternating (and alternating who starts)."""
    samples: dict[str, list[float]] = {name: [] for name in commands}
    names = list(commands)
    for round_ in range(rounds):
        for name in names if round_ % 2 == 0 else names[::-1]:
            samples[name].append(cpu_of(commands[name], envs[name]))
    return samples


def test_launcher_startup_cpu(benchmark, pythons, environment, summary_lines):
    rounds = SMOKE_ROUNDS if benchmark.disabled else ROUNDS
    # What each launcher loaded: its own distro, and contrib's instrumentations on both.
    loaded = {
        side: set(json.loads(output_of(launcher(pythons[side], _MODULES), environment[side])))
        for side in harness.SIDES
    }
    assert "opentelemetry.distro" in loaded["vanilla"]
    assert "otel_errors" not in loaded["vanilla"]
    assert "otel_errors" in loaded["otel_errors"]
    assert "opentelemetry.distro" not in loaded["otel_errors"]
    for library in ("flask", "requests", "httpx"):
        for side in harness.SIDES:
            assert f"opentelemetry.instrumentation.{library}" in loaded[side], (side, library)

    benchmark.group = "launcher start-up (CPU, interleaved; see the start-up section)"
    benchmark.name = "both sides, interleaved"
    commands = {side: launcher(pythons[side], "pass") for side in harness.SIDES}
    samples = benchmark.pedantic(
        interleaved, args=(commands, environment, rounds), rounds=1, iterations=1
    )
    vanilla, ours = samples["vanilla"], samples["otel_errors"]
    median_ratio = statistics.median(ours) / statistics.median(vanilla)
    min_ratio = min(ours) / min(vanilla)
    only_ours = Counter(m.split(".")[0] for m in loaded["otel_errors"] - loaded["vanilla"])
    extra = ", ".join(f"{package} {count}" for package, count in only_ours.most_common())
    summary_lines.append(
        f"opentelemetry-instrument python -c pass, {rounds} interleaved runs a side: "
        f"vanilla {statistics.median(vanilla) * 1e3:.0f} ms CPU, "
        f"otel_errors {statistics.median(ours) * 1e3:.0f} ms; "
        f"median ratio {median_ratio:.2f}, min ratio {min_ratio:.2f} (target <= 1.10)"
    )
    summary_lines.append(
        f"  modules after start-up: vanilla {len(loaded['vanilla'])}, "
        f"otel_errors {len(loaded['otel_errors'])}; only under otel_errors, by package: "
        f"{extra or 'none'}"
    )


def test_import_otel_errors_over_the_sdk(benchmark, pythons, environment, summary_lines):
    """What ``import otel_errors`` adds to ``import opentelemetry.sdk.trace`` (no launcher)."""
    rounds = SMOKE_ROUNDS if benchmark.disabled else ROUNDS
    python, env = pythons["otel_errors"], environment["otel_errors"]
    sdk = "import opentelemetry.sdk.trace"
    added = json.loads(
        output_of(
            [
                str(python),
                "-c",
                (
                    f"import json, sys; {sdk}; before = set(sys.modules); import otel_errors; "
                    "print(json.dumps(sorted(set(sys.modules) - before)))"
                ),
            ],
            env,
        )
    )
    assert "otel_errors" in added
    commands = {
        "sdk": [str(python), "-c", sdk],
        "sdk + otel_errors": [str(python), "-c", f"{sdk}; import otel_errors"],
    }
    benchmark.group = "import otel_errors (CPU, interleaved; see the start-up section)"
    benchmark.name = "both imports, interleaved"
    samples = benchmark.pedantic(
        interleaved, args=(commands, dict.fromkeys(commands, env), rounds), rounds=1, iterations=1
    )
    base, ours = (statistics.median(samples[name]) for name in commands)
    by_package = Counter(m.split(".")[0] for m in added)
    stdlib = sorted(p for p in by_package if p in sys.stdlib_module_names)
    others = ", ".join(f"{p} {n}" for p, n in sorted(by_package.items()) if p not in stdlib)
    summary_lines.append(
        f"import otel_errors after import opentelemetry.sdk.trace: {(ours - base) * 1e3:+.1f} ms "
        f"CPU (median of {rounds}; {base * 1e3:.0f} -> {ours * 1e3:.0f} ms), "
        f"+{len(added)} modules: {others}; standard library {sum(by_package[p] for p in stdlib)} "
        f"({', '.join(stdlib)})"
    )
