"""A job runner whose failures you choose per release: new and regressed errors, shown.

Run two releases one after the other under the launcher, with a collector and the
Prometheus rules of ``otel-errors alerts rules --catalog examples/releases/errors.toml``::

    OTEL_SERVICE_NAME=jobs OTEL_RESOURCE_ATTRIBUTES=service.version=1.0 \
    OTEL_ERRORS_CATALOG=examples/releases/errors.toml JOBS_FAILING=checkout,export@60 \
        opentelemetry-instrument python examples/releases/worker.py
    # later: release 1.1 brings "import" and brings "export" back
    ... service.version=1.1 ... JOBS_FAILING=checkout,export,import ...

``JOBS_FAILING`` lists the jobs that fail, each optionally with ``@SECONDS``: it fails
only during the first SECONDS of the run. Each job runs every ``JOBS_INTERVAL`` seconds
(default 0.2) in its own span, and its failure escapes the span (an unhandled error);
the loop goes on until SIGTERM.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import TYPE_CHECKING

from opentelemetry import trace

from otel_errors import AppError

if TYPE_CHECKING:
    from collections.abc import Callable


class CheckoutRefused(AppError, code="JOB-001"):
    """The checkout backend refused the connection."""


class MalformedExport(AppError, code="JOB-002"):
    """The export met a row it cannot write."""


class UnknownSupplier(AppError, code="JOB-003"):
    """The import references a supplier that is not loaded."""


def checkout() -> None:
    raise CheckoutRefused


def export() -> None:
    raise MalformedExport


def import_() -> None:
    raise UnknownSupplier


JOBS = {"checkout": checkout, "export": export, "import": import_}


def failing_until(setting: str) -> dict[str, float]:
    """Each failing job and until when (seconds into the run) it fails."""
    until: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in setting.split(","))):
        name, _, seconds = item.partition("@")
        until[name] = float(seconds) if seconds else float("inf")
    return until


def main() -> None:
    until = failing_until(os.environ.get("JOBS_FAILING", ""))
    interval = float(os.environ.get("JOBS_INTERVAL", "0.2"))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    tracer = trace.get_tracer("jobs")
    started = time.monotonic()
    while not stop.is_set():
        elapsed = time.monotonic() - started
        for name, job in JOBS.items():
            run(tracer, name, job, failing=elapsed < until.get(name, -1.0))
        stop.wait(interval)


def run(tracer: trace.Tracer, name: str, job: Callable[[], None], *, failing: bool) -> None:
    """One run of a job in its span; a failure escapes the span, not the runner."""
    try:
        with tracer.start_as_current_span(name):
            if failing:
                job()
    except AppError:
        pass  # the job failed; its span recorded it, the runner goes on


if __name__ == "__main__":
    main()
