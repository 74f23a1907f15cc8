"""Ending within one deadline: SIGTERM, the interpreter's exit, an uncaught exception.

Why: the SDK's flush ignores its timeout for batch processors (every queued batch is
exported, each with the exporter's own retries), and its exit handlers shut the three
providers down one after the other. With a collector down or slow, processes took
13-38 s to exit, past Kubernetes' 30 s grace period, where SIGKILL loses everything.

Here the providers are flushed (or shut down) in parallel, in daemon threads, and the
process waits for them until one deadline, ``OTEL_ERRORS_SHUTDOWN_DEADLINE`` seconds
after its exit began (an uncaught exception and the exit that follows share it). The
exporters keep their own timeouts inside it. Once the collector shows it is failing
(an export fails, or an exporter logs that it will retry), every exporter is stopped:
retries cannot succeed before the process ends, they only delay it. At the deadline,
whatever still runs is abandoned and its exporter shut down. What could not be
delivered is reported once, in one line on stderr.
"""

from __future__ import annotations

import atexit
import logging
import sys
import threading
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING

from opentelemetry import _logs, metrics, trace

from otel_errors._internal.export import delivery
from otel_errors._internal.helpers.fail_open import report_internal_failure
from otel_errors._internal.recording.runtime import current

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

_EXPORTER_LOGGER = "opentelemetry.exporter"
"""Prefix of every OTLP exporter's logger: they warn there before each retry."""


class ExitClock:
    """When this process's exit began, and whether it flushed and reported (a runtime part)."""

    def __init__(self) -> None:
        """No exit yet."""
        self.started: float | None = None
        self.flushed = False
        self.reported = False

    def after_fork(self) -> None:
        """In a forked child: its own exit has not begun."""
        self.started = None
        self.flushed = self.reported = False


def _clock() -> ExitClock:
    return current().part(ExitClock)


def install() -> None:
    """Makes the process exit through :func:`_at_exit`, not the SDK's handlers in a row.

    Called when otel_errors built the global providers.
    """
    for provider in _providers().values():
        shutdown = getattr(provider, "shutdown", None)
        if shutdown is not None:
            atexit.unregister(shutdown)
    atexit.register(_at_exit)


def flush_before_exit() -> None:
    """Flushes the providers within the deadline (an uncaught exception is ending the process).

    In an interactive session the interpreter goes on after an uncaught exception:
    the flush is bounded the same way, but the exporters keep retrying afterwards.
    """
    interactive = hasattr(sys, "ps1") or sys.flags.interactive
    _finish("force_flush", exiting=not interactive)


def flush_and_report() -> None:
    """Flushes within the deadline and reports what was not delivered (a signal ends us).

    Once: uvicorn's flush before it raises SIGTERM again, then our SIGTERM handler,
    are one exit (a second collection would export the metrics again, without the
    exemplars the first one carried).
    """
    clock = _clock()
    if not clock.flushed:
        clock.flushed = True
        _finish("force_flush", exiting=True)
    _report()


def _at_exit() -> None:
    _finish("shutdown", exiting=True)
    _report()


def _providers() -> dict[str, object]:
    return {
        "traces": trace.get_tracer_provider(),
        "logs": _logs.get_logger_provider(),
        "metrics": metrics.get_meter_provider(),
    }


def _deadline() -> float:
    """The monotonic time by which the current exit ends (set by its first step)."""
    clock = _clock()
    seconds = current().settings.shutdown_deadline
    now = time.monotonic()
    if clock.started is None or now - clock.started >= seconds:
        clock.started = now
    return clock.started + seconds


def _finish(action: str, *, exiting: bool) -> None:
    """Runs ``action`` on every provider, in parallel, returning by the deadline."""
    try:
        deadline = _deadline()
        if exiting:
            delivery.ending(deadline)
        jobs = {
            name: job
            for name, provider in _providers().items()
            if (job := getattr(provider, action, None)) is not None
        }
        with _watching_exporters(enabled=exiting):
            late = _run_until(deadline, jobs)
        if late:
            delivery.stop_all()
    except Exception as failure:
        report_internal_failure("shutdown", failure)


def _run_until(deadline: float, jobs: dict[str, Callable[[], object]]) -> list[str]:
    """Starts each job in a daemon thread; returns the names still running at the deadline.

    The metrics job starts once the others are done, or at half the time left: the
    last spans' and log records' export adds to our own counters (``redactions``,
    ``otel_errors.dropped``), which the last collection must carry.

    The first Python 3.12 releases (3.12.1 tried here) refuse new threads during the
    interpreter's exit: the jobs then run one after the other in this thread. The
    exporters still stop at the first failure and no export starts after the deadline,
    but one export in flight to a collector that hangs holds the exit up to the
    exporter's own timeout (measured on 3.12.1: 10.9 s with a deadline of 3 s).
    """
    threads: dict[str, threading.Thread] = {}
    first = {name: job for name, job in jobs.items() if name != "metrics"}
    for name, job in first.items():
        _start(threads, name, job)
    if "metrics" in jobs:
        halfway = time.monotonic() + (deadline - time.monotonic()) / 2
        earlier = list(threads.values())

        def after_the_others() -> object:
            for thread in earlier:
                thread.join(max(0.0, halfway - time.monotonic()))
            return jobs["metrics"]()

        _start(threads, "metrics", after_the_others)
    for thread in threads.values():
        thread.join(max(0.0, deadline - time.monotonic()))
    return [name for name, thread in threads.items() if thread.is_alive()]


def _start(threads: dict[str, threading.Thread], name: str, job: Callable[[], object]) -> None:
    """Runs ``job`` in a daemon thread added to ``threads``, or here if none may start."""
    thread = threading.Thread(
        target=_guarded, args=(name, job), name=f"otel_errors.exit.{name}", daemon=True
    )
    try:
        thread.start()
    except RuntimeError:
        _guarded(name, job)
        return
    threads[name] = thread


def _guarded(name: str, job: Callable[[], object]) -> None:
    try:
        job()
    except Exception as failure:
        report_internal_failure(f"shutdown.{name}", failure)


class _ExporterTrouble(logging.Filter):
    """Stops every exporter as soon as one warns (it is about to retry, or gave up)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Lets every record through; a warning or worse stops the exporters."""
        if record.levelno >= logging.WARNING:
            delivery.stop_all()
        return True


@contextmanager
def _watching_exporters(*, enabled: bool) -> Iterator[None]:
    """Puts the trouble filter first on every exporter logger while the process ends.

    First, and on each logger rather than on a handler: the SDK's exporters drop a
    repeated message within 20 s (their ``DuplicateFilter``), so the warning of a
    retry during the exit would never reach a handler.
    """
    if not enabled:
        yield
        return
    watcher = _ExporterTrouble()
    loggers = [
        logger
        for name, logger in list(logging.Logger.manager.loggerDict.items())
        if isinstance(logger, logging.Logger)
        and (name == _EXPORTER_LOGGER or name.startswith(_EXPORTER_LOGGER + "."))
    ]
    for logger in loggers:
        logger.filters.insert(0, watcher)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(watcher)


def _report() -> None:
    """Says once what this process could not deliver, if anything; never raises."""
    try:
        _report_once()
    except Exception as failure:
        report_internal_failure("shutdown.report", failure)


def _report_once() -> None:
    clock = _clock()
    if clock.reported:
        return
    lost = delivery.undelivered()
    if not lost:
        return
    clock.reported = True
    details = "; ".join(
        f"{signal} {sum(reasons.values())} ("
        + ", ".join(f"{reason} {count}" for reason, count in sorted(reasons.items()))
        + ")"
        for signal, reasons in sorted(lost.items())
    )
    # On stderr, not through logging: the telemetry pipeline is what failed.
    print(  # noqa: T201
        f"otel_errors: telemetry this process could not deliver: {details}; shutdown "
        f"deadline {current().settings.shutdown_deadline:g} s (OTEL_ERRORS_SHUTDOWN_DEADLINE)",
        file=sys.stderr,
        flush=True,
    )
