"""Seconds from being told to end to the process's exit, for each fault of the collector.

An application records ``--errors`` errors through the whole pipeline (one log record
per ten), then ends. Printed: SIGTERM to exit for the collector stand-in in each mode
and each OTLP protocol, and a normal exit with the collector down against one with
``OTEL_SDK_DISABLED=true`` (the extra exit time the collector costs). The median of
``--repeat`` runs; the default deadline unless ``--deadline`` is given.

    .venv/bin/python benchmarks/exit_times.py --errors 2000 --repeat 3

Not a pytest benchmark: each measurement takes a fresh process and seconds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from _collector_standin import CollectorStandIn
from _ending import run_and_end

FAULTS = ("ok", "down", "slow", "throttle", "unavailable", "drop")


def _seconds(
    fault: str, protocol: str, ending: str, options: argparse.Namespace, **env: str
) -> float:
    runs = []
    for _ in range(options.repeat):
        standin = CollectorStandIn(delay=120.0, keep=False)
        try:
            if fault == "down":
                standin.down()
            elif fault != "ok":
                standin.mode = fault
            with tempfile.TemporaryDirectory() as workdir:
                runs.append(
                    run_and_end(
                        standin, Path(workdir), protocol, ending, options.errors, **env
                    ).seconds
                )
        finally:
            standin.close()
    return statistics.median(runs)


def main() -> None:
    """Measures and prints the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--errors", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--deadline", help="OTEL_ERRORS_SHUTDOWN_DEADLINE for the runs")
    options = parser.parse_args()
    env = {"OTEL_ERRORS_SHUTDOWN_DEADLINE": options.deadline} if options.deadline else {}
    print(f"SIGTERM -> exit, seconds (median of {options.repeat}, {options.errors} errors)")
    print(f"  {'collector':12} {'http':>7} {'grpc':>7}")
    for fault in FAULTS:
        http, grpc = (_seconds(fault, p, "sigterm", options, **env) for p in ("http", "grpc"))
        print(f"  {fault:12} {http:7.2f} {grpc:7.2f}", flush=True)
    down = _seconds("down", "http", "exit", options, **env)
    disabled = _seconds("down", "http", "exit", options, OTEL_SDK_DISABLED="true", **env)
    print(
        f"normal exit, collector down {down:.2f} s, OTEL_SDK_DISABLED=true {disabled:.2f} s: "
        f"{down - disabled:+.2f} s"
    )


if __name__ == "__main__":
    main()
