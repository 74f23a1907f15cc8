"""Launcher start-up: CPU of ``opentelemetry-instrument python -c pass``, vanilla vs otel_errors.

The environments, the collector stand-in and the interleaving are ``_launcher.py``'s:
flask, requests and httpx with their contrib instrumentations and OTLP export, with
the vanilla distro or with otel_errors built from this checkout.

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
import sys
from collections import Counter

import pytest
from _launcher import SIDES, environment, interleaved, launcher, output_of, pythons

pytestmark = pytest.mark.parity  # the newest locked line only, like the harness's environments

ROUNDS = 30
"""Launcher runs a side when measuring."""
SMOKE_ROUNDS = 2
_MODULES = "import json, sys; print(json.dumps(sorted(sys.modules)))"
__all__ = ["environment", "pythons"]  # fixtures


def test_launcher_startup_cpu(benchmark, pythons, environment, summary_lines):
    rounds = SMOKE_ROUNDS if benchmark.disabled else ROUNDS
    # What each launcher loaded: its own distro, and contrib's instrumentations on both.
    loaded = {
        side: set(json.loads(output_of(launcher(pythons[side], "-c", _MODULES), environment[side])))
        for side in SIDES
    }
    assert "opentelemetry.distro" in loaded["vanilla"]
    assert "otel_errors" not in loaded["vanilla"]
    assert "otel_errors" in loaded["otel_errors"]
    assert "opentelemetry.distro" not in loaded["otel_errors"]
    for library in ("flask", "requests", "httpx"):
        for side in SIDES:
            assert f"opentelemetry.instrumentation.{library}" in loaded[side], (side, library)

    benchmark.group = "launcher start-up (CPU, interleaved; see the start-up section)"
    benchmark.name = "both sides, interleaved"
    commands = {side: launcher(pythons[side], "-c", "pass") for side in SIDES}
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
        f"CPU (median of {rounds}; {base * 1e3:.0f} -> {ours * 1e3:.0f} ms; target <= +50 ms), "
        f"+{len(added)} modules: {others}; standard library {sum(by_package[p] for p in stdlib)} "
        f"({', '.join(stdlib)})"
    )
