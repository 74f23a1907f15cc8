"""Running the fault app against the collector stand-in and timing how it ends.

Shared by the fault tests and the exit-time benchmark: the time counts from the moment
the application is told to end (SIGTERM sent, or its last line printed before a normal
exit or a crash) until the process is gone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from _collector_standin import CollectorStandIn

APP = Path(__file__).resolve().parent / "_fault_app.py"


@dataclass
class Ending:
    """How an application run ended."""

    seconds: float
    returncode: int
    stderr: str


def run_and_end(
    standin: CollectorStandIn,
    workdir: Path,
    protocol: str,
    ending: str,
    errors: int,
    **env_extra: str,
) -> Ending:
    """Runs ``_fault_app.py`` exporting to ``standin`` and times its ``ending``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(
        OTEL_EXPORTER_OTLP_ENDPOINT=standin.grpc_endpoint
        if protocol == "grpc"
        else standin.http_endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL="grpc" if protocol == "grpc" else "http/protobuf",
        OTEL_ERRORS_LOG_CONSOLE_JSON="false",
        **env_extra,
    )
    stderr_path = workdir / f"app-{protocol}-{ending}.stderr"
    with stderr_path.open("w") as stderr, subprocess.Popen(
        [sys.executable, str(APP), str(errors), ending],
        stdout=subprocess.PIPE, stderr=stderr, text=True, env=env,
    ) as app:  # fmt: skip
        assert app.stdout is not None
        assert app.stdout.readline().strip() == "recorded", stderr_path.read_text()
        told = time.monotonic()
        if ending == "sigterm":
            app.send_signal(signal.SIGTERM)
        returncode = app.wait(timeout=120)
        seconds = time.monotonic() - told
    return Ending(seconds, returncode, stderr_path.read_text())
