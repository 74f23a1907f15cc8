"""Pre-fork servers under the launcher: gunicorn (sync, gthread, uvicorn workers) and uvicorn.

Every worker's errors are recorded once and counted once (a worker never re-exports the
master's counts), and SIGTERM to the server flushes everything within the deadline. The
batch interval is a minute and the metric interval ten, so what the collector stand-in
holds at the end was flushed by the shutdown.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from _collector_standin import CollectorStandIn
from _e2e_processes import free_port, http_get, wait_for

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
DEADLINE = 3.0
MARGIN = 10.0
"""Seconds past the deadline allowed for the server's own graceful stop on a busy machine."""
FAILING = 40

SERVERS = {
    "gunicorn-sync": ["gunicorn", "--preload", "-w", "2", "-k", "sync", "_prefork_apps:wsgi"],
    "gunicorn-gthread": [
        "gunicorn", "--preload", "-w", "2", "-k", "gthread", "--threads", "4",
        "_prefork_apps:wsgi",
    ],
    "gunicorn-uvicorn": [
        "gunicorn", "--preload", "-w", "2", "-k", "uvicorn.workers.UvicornWorker",
        "_prefork_apps:asgi",
    ],
    "uvicorn": ["uvicorn", "--workers", "2", "_prefork_apps:asgi"],
}  # fmt: skip
"""Each server's command line, without its bind address."""
PATIENCE = {"gunicorn": ["--timeout", "120"], "uvicorn": ["--timeout-worker-healthcheck", "120"]}
"""On a busy machine a supervisor must not kill a slow worker (and its telemetry) for us."""


def _command(server: str, port: int) -> list[str]:
    argv = SERVERS[server]
    bind = ["--port", str(port)] if argv[0] == "uvicorn" else ["-b", f"127.0.0.1:{port}"]
    return [
        str(BIN / "opentelemetry-instrument"), str(BIN / argv[0]), *bind, *PATIENCE[argv[0]],
        *argv[1:],
    ]  # fmt: skip


def _launcher_reaches_spawned_processes() -> bool:
    """Whether the launcher leaves its sitecustomize on PYTHONPATH (newer releases do)."""
    shown = subprocess.run(
        [str(BIN / "opentelemetry-instrument"), sys.executable, "-c",
         "import os; print(os.environ.get('PYTHONPATH', ''))"],
        env={**os.environ, "OTEL_SDK_DISABLED": "true"},
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    return "auto_instrumentation" in shown


@pytest.fixture
def standin():
    server = CollectorStandIn()
    yield server
    server.close()


def _serve(server: str, standin: CollectorStandIn, tmp_path: Path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(
        OTEL_SERVICE_NAME="prefork",
        OTEL_EXPORTER_OTLP_ENDPOINT=standin.http_endpoint,
        OTEL_BSP_SCHEDULE_DELAY="60000",
        OTEL_BLRP_SCHEDULE_DELAY="60000",
        OTEL_METRIC_EXPORT_INTERVAL="600000",
        OTEL_ERRORS_SHUTDOWN_DEADLINE=str(DEADLINE),
        OTEL_ERRORS_LOG_CONSOLE_JSON="false",
    )
    log = (tmp_path / f"{server}.log").open("w")
    process = subprocess.Popen(
        _command(server, port), cwd=HERE, env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    return process, f"http://127.0.0.1:{port}", log


def _fail_concurrently(base: str) -> None:
    """Sends the failing requests eight at a time: every worker gets some (each takes 50 ms)."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda n: http_get(f"{base}/fail/{n}")[0], range(FAILING)))
    assert all(status >= 500 for status in statuses), statuses


def _exception_events(standin: CollectorStandIn) -> list[tuple[dict, dict]]:
    return [
        ({a.key: a.value for a in span.attributes}, {a.key: a.value for a in event.attributes})
        for span in standin.spans()
        for event in span.events
        if event.name == "exception"
    ]


def _errors_series(standin: CollectorStandIn) -> Counter[tuple[int, str, int]]:
    """``errors`` points received: (start time, attributes, value) and how often each came.

    A series starts when a process first counts into it, so no two processes share one;
    each process exports its counts once, at its exit (the interval is ten minutes).
    """
    return Counter(
        (point.start_time_unix_nano, str(sorted(str(a) for a in point.attributes)), point.as_int)
        for metric in standin.metrics()
        if metric.name == "errors"
        for point in metric.sum.data_points
    )


@pytest.mark.parametrize("server", list(SERVERS))
def test_every_worker_records_its_errors_once_and_sigterm_flushes_them(standin, tmp_path, server):
    """Each worker's errors arrive once, counted once, flushed by SIGTERM within the deadline."""
    if server == "uvicorn" and not _launcher_reaches_spawned_processes():
        pytest.skip(
            "this opentelemetry-instrument removes itself from PYTHONPATH: uvicorn's spawned "
            "workers run uninstrumented, with or without otel_errors"
        )
    process, base, log = _serve(server, standin, tmp_path)
    try:
        wait_for(lambda: http_get(f"{base}/pid")[0] == 200, f"{server} up", 60,
                 details=lambda: (tmp_path / f"{server}.log").read_text())  # fmt: skip
        _fail_concurrently(base)
        told = time.monotonic()
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=120)
        seconds = time.monotonic() - told
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
        log.close()
    output = (tmp_path / f"{server}.log").read_text()
    events = _exception_events(standin)
    failures = [(s, e) for s, e in events if "warm-up" not in e["exception.message"].string_value]
    messages = Counter(e["exception.message"].string_value for _, e in failures)
    assert sorted(messages) == sorted(f"dependency timed out ({n})" for n in range(FAILING)), output
    assert set(messages.values()) == {1}, messages
    by_worker = Counter(s["worker.pid"].int_value for s, _ in failures)
    assert len(by_worker) == 2, by_worker  # both workers failed requests, each counted its own
    warm_ups = len(events) - len(failures)
    assert warm_ups == (4 if server == "uvicorn" else 2), output  # --preload: the master's only
    series = _errors_series(standin)
    assert set(series.values()) == {1}, series  # nobody re-exported the master's counts
    assert sum(value for _, _, value in series) == FAILING + warm_ups, output
    assert seconds < DEADLINE + MARGIN, (seconds, output)
