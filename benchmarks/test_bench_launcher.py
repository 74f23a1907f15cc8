"""Whole spans with export, whole processes under the launcher: vanilla vs otel_errors.

Each run is one process, ``opentelemetry-instrument python launcher_workload.py CASE N``,
in the start-up benchmark's two environments (``_launcher.py``: flask, requests and
httpx instrumented, the vanilla distro or otel_errors), exporting OTLP/HTTP through the
batch span processor to a collector stand-in on 127.0.0.1. The process measures its
own CPU time (every thread, so the export is in it) over ``N`` spans and the flush
that exports them, start-up excluded (see ``launcher_workload.py`` for the cases).
The sides alternate run by run, and which goes first alternates too.

Both sides export with the same compression, gzip (otel_errors's default; the vanilla
distro's is none): the figures compare what each distribution does per span, not a
setting. ``OTEL_ERRORS_BENCH_COMPRESSION=none`` measures both without; the vanilla
distro's default against otel_errors's costs otel_errors about 4 us more a successful
span and 7 us a failed one (gzip of the batch), see the README.

Printed per case: the median ratio otel_errors / vanilla, the ratio of the minimums,
each side's median per span, and the target (issue 14); a target is met on the median
ratio.

In the normal test run (``--benchmark-disable``) this is a smoke round: one short run
a side per case, to prove the benchmark works. To measure:

    OTEL_ERRORS_CACHE=/tmp/my-cache .venv/bin/pytest benchmarks/test_bench_launcher.py \
        --benchmark-enable

(``ROUNDS`` runs a side per case; ``OTEL_ERRORS_BENCH_ROUNDS`` overrides it).
"""

from __future__ import annotations

import json
import os
import statistics
from pathlib import Path

import launcher_workload
import pytest
from _launcher import SIDES, environment, interleaved, launcher, output_of, pythons

pytestmark = pytest.mark.parity  # the newest locked line only, like the harness's environments
__all__ = ["environment", "pythons"]  # fixtures

ROUNDS = 15
"""Runs a side per case when measuring."""
SMOKE_ROUNDS = 1
SMOKE_SPANS = 20
WORKLOAD = Path(launcher_workload.__file__).resolve()

CASES = {
    # case: (spans per process, target on the median ratio, description)
    "success": (5000, 1.03, "successful span"),
    "repeated": (2000, 0.25, "repeated failure, 9 deep, changing message"),
    "new2": (2000, 1.0, "failure at a new site, 2 deep"),
    "new10": (1000, 0.5, "failure at a new site, 10 deep"),
}


def spans_cpu(command: list[str], env: dict[str, str]) -> float:
    """The CPU seconds a workload process reports for its measured spans."""
    return float(json.loads(output_of(command, env).strip().splitlines()[-1])["cpu"])


@pytest.fixture(scope="module")
def exporting(environment) -> dict[str, dict[str, str]]:
    """Each side's environment, exporting with the same compression."""
    compression = os.environ.get("OTEL_ERRORS_BENCH_COMPRESSION", "gzip")
    return {
        side: {**env, "OTEL_EXPORTER_OTLP_COMPRESSION": compression}
        for side, env in environment.items()
    }


@pytest.fixture(scope="module")
def sites(tmp_path_factory) -> Path:
    """A folder for the generated modules of the new-site cases (written on first use)."""
    return tmp_path_factory.mktemp("sites")


@pytest.mark.parametrize("case", list(CASES))
def test_launcher_spans_cpu(benchmark, case, pythons, exporting, sites, summary_lines):  # noqa: PLR0917 - fixtures
    spans, target, description = CASES[case]
    measuring = not benchmark.disabled
    rounds = int(os.environ.get("OTEL_ERRORS_BENCH_ROUNDS", ROUNDS)) if measuring else SMOKE_ROUNDS
    spans = spans if measuring else SMOKE_SPANS
    commands = {
        side: launcher(pythons[side], str(WORKLOAD), case, str(spans), str(sites)) for side in SIDES
    }
    if case.startswith("new"):  # written and compiled before any measured run
        launcher_workload.write_sites(sites, int(case[3:]), launcher_workload.WARM_UP + spans)
        for side in SIDES:  # compiles the generated module; not measured
            output_of(commands[side], exporting[side])
    benchmark.group = f"launcher, whole span with export: {description}"
    benchmark.name = "both sides, interleaved"
    samples = benchmark.pedantic(
        interleaved, args=(commands, exporting, rounds, spans_cpu), rounds=1, iterations=1
    )
    vanilla, ours = samples["vanilla"], samples["otel_errors"]
    assert all(cpu > 0 for cpu in vanilla + ours)
    median_ratio = statistics.median(ours) / statistics.median(vanilla)
    min_ratio = min(ours) / min(vanilla)
    summary_lines.append(
        f"{description}: {spans} spans a process, {rounds} interleaved runs a side, "
        f"compression {exporting['vanilla']['OTEL_EXPORTER_OTLP_COMPRESSION']}: "
        f"vanilla {statistics.median(vanilla) / spans * 1e6:.1f} us/span, "
        f"otel_errors {statistics.median(ours) / spans * 1e6:.1f} us/span; "
        f"median ratio {median_ratio:.2f}, min ratio {min_ratio:.2f} (target <= {target})"
    )
