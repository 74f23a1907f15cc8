"""Process-wide hooks: uncaught, thread, asyncio, unraisable and logged exceptions.

The interpreter's own behaviour is the peer here: real subprocesses die of an uncaught
exception, real threads and event loops (asyncio's and uvloop's) report through their
hooks, real finalisers raise. In-process tests install a collecting hook *before*
instrumenting, so that ours chains to it (and not to pytest's, which would turn the
report into a test failure).
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
import uvloop
from opentelemetry.trace import StatusCode

from otel_errors.integrations.process_hooks import instrumentor as hooks
from otel_errors.integrations.process_hooks import logging_exc_info
from otel_errors.integrations.process_hooks.instrumentor import ProcessHooksErrorsInstrumentor


def _clean_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(OTEL_SERVICE_NAME="hooks", OTEL_ERRORS_LOCAL_DIR=str(data_dir), **extra)
    return env


def _run(tmp_path: Path, body: str, **env: str) -> tuple[subprocess.CompletedProcess, Path]:
    script = tmp_path / "app.py"
    prologue = """
        import otel_errors
        from otel_errors.integrations.process_hooks import instrumentor

        otel_errors.configure(instrument=False)
        instrumentor.ProcessHooksErrorsInstrumentor().instrument()
    """
    script.write_text(textwrap.dedent(prologue) + textwrap.dedent(body))
    data = tmp_path / "data"
    result = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        env=_clean_env(data, **env),
        timeout=60,
        check=False,
    )
    return result, data


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _events_by_type(spans: list[dict]) -> dict[str, list[tuple[dict, dict]]]:
    found: dict[str, list[tuple[dict, dict]]] = {}
    for span in spans:
        for event in span["events"]:
            if event["name"] == "exception":
                found.setdefault(event["attributes"]["exception.type"], []).append(
                    (span, event["attributes"])
                )
    return found


def test_uncaught_exception_is_recorded_as_fatal_and_the_process_still_dies(tmp_path):
    """An uncaught exception is exported before the process dies, as fatal, and still printed."""
    result, data = _run(
        tmp_path,
        """
        import sys

        def previous(exc_type, exc, tb):
            print("PREVIOUS HOOK RAN", file=sys.stderr)
            sys.__excepthook__(exc_type, exc, tb)

        sys.excepthook = previous
        instrumentor.ProcessHooksErrorsInstrumentor().uninstrument()
        instrumentor.ProcessHooksErrorsInstrumentor().instrument()
        raise RuntimeError("the end")
        """,
        OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN="logs/dup",
    )
    assert result.returncode == 1
    assert "PREVIOUS HOOK RAN" in result.stderr
    assert "Traceback (most recent call last)" in result.stderr
    assert "RuntimeError: the end" in result.stderr
    ((span, event),) = _events_by_type(_lines(data / "spans.jsonl"))["RuntimeError"]
    assert span["name"] == "sys.excepthook"
    assert span["status"]["code"] == "ERROR"
    assert (event["error.code"], event["error.handled"]) == ("BUG-008", False)
    (log,) = [r for r in _lines(data / "logs.jsonl") if r["event_name"] == "exception"]
    assert (log["severity"], log["attributes"]["error.code"]) == ("FATAL", "BUG-008")


def test_every_hook_records_once_in_a_real_process(tmp_path):
    """Thread, asyncio, unraisable and logged exceptions are each exported once, output intact."""
    result, data = _run(
        tmp_path,
        """
        import asyncio, gc, logging.config, threading
        from opentelemetry import trace

        # The application reconfigures logging after instrumenting: root handlers replaced.
        logging.config.dictConfig({
            "version": 1,
            "disable_existing_loggers": False,
            "handlers": {"plain": {"class": "logging.StreamHandler"}},
            "root": {"handlers": ["plain"], "level": "INFO"},
        })
        log = logging.getLogger("app")

        def work():
            raise ConnectionResetError("thread died")

        thread = threading.Thread(target=work, name="worker-1")
        thread.start()
        thread.join()

        async def orphan():
            raise TimeoutError("nobody awaited me")

        async def main():
            task = asyncio.get_running_loop().create_task(orphan())
            await asyncio.sleep(0.01)
            del task
            gc.collect()

        asyncio.run(main())

        class Leaky:
            def __del__(self):
                raise PermissionError("finaliser failed")

        Leaky()

        with trace.get_tracer("app").start_as_current_span("request"):
            try:
                int("x")
            except ValueError:
                log.exception("bad input")
        try:
            {}["key"]
        except KeyError:
            log.exception("missing key")
        """,
    )
    assert result.returncode == 0, result.stderr
    for printed in (
        "Exception in thread worker-1",
        "Task exception was never retrieved",
        "Exception ignored",
        "bad input",
        "missing key",
    ):
        assert printed in result.stderr
    found = _events_by_type(_lines(data / "spans.jsonl"))
    summary = {
        kind: [(span["name"], event["error.code"], event["error.handled"]) for span, event in hits]
        for kind, hits in found.items()
    }
    assert summary == {
        "ConnectionResetError": [("threading.excepthook", "NET-002", False)],
        "TimeoutError": [("asyncio.exception_handler", "GEN-001", False)],
        "PermissionError": [("sys.unraisablehook", "GEN-002", False)],
        "ValueError": [("request", "VAL-001", True)],
        "KeyError": [("otel_errors.record_error", "BUG-003", True)],
    }
    ((thread_span, _),) = found["ConnectionResetError"]
    assert thread_span["attributes"]["thread.name"] == "worker-1"


class Collected:
    """What the hooks we chain to received."""

    def __init__(self) -> None:
        self.threads: list[BaseException] = []
        self.unraisable: list[BaseException] = []
        self.uncaught: list[BaseException] = []


@pytest.fixture
def collected(monkeypatch) -> Collected:
    seen = Collected()
    monkeypatch.setattr(threading, "excepthook", lambda args: seen.threads.append(args.exc_value))
    monkeypatch.setattr(sys, "unraisablehook", lambda u: seen.unraisable.append(u.exc_value))
    monkeypatch.setattr(sys, "excepthook", lambda t, exc, tb: seen.uncaught.append(exc))
    return seen


@pytest.fixture
def instrumented(collected):
    instrumentor = ProcessHooksErrorsInstrumentor()
    instrumentor.instrument()
    yield instrumentor
    instrumentor.uninstrument()


def _raise_in_thread(exc: BaseException, name: str = "worker") -> None:
    def work() -> None:
        raise exc

    thread = threading.Thread(target=work, name=name)
    thread.start()
    thread.join(timeout=10)
    assert not thread.is_alive()


def test_thread_exception_is_recorded_on_a_span_of_its_own(instrumented, collected, spans):
    """A thread that dies of an exception is recorded unhandled; the previous hook still runs."""
    exc = ConnectionRefusedError("no upstream")
    _raise_in_thread(exc, name="poller")
    assert collected.threads == [exc]
    span = spans.named("threading.excepthook")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["thread.name"] == "poller"
    assert isinstance(span.attributes["thread.id"], int)
    event = spans.only_exception()
    assert (event["error.code"], event["error.handled"]) == ("NET-001", False)


def test_thread_exception_already_recorded_by_a_span_is_not_recorded_again(
    instrumented, collected, spans, tracer
):
    """An exception that escaped a span in the thread is not recorded a second time."""

    def work() -> None:
        with tracer.start_as_current_span("job"):
            raise TimeoutError("slow")

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(timeout=10)
    assert len(collected.threads) == 1
    assert [s.name for s in spans.all()] == ["job"]
    assert spans.only_exception()["error.code"] == "GEN-001"


def test_uncaught_keyboard_interrupt_is_not_recorded(instrumented, collected, spans):
    """Ctrl-C reaching the top level is passed on but not recorded as an error."""
    interrupt = KeyboardInterrupt()
    sys.excepthook(KeyboardInterrupt, interrupt, None)
    assert collected.uncaught == [interrupt]
    assert spans.all() == []


@pytest.mark.usefixtures("instrumented")
def test_uncaught_exception_in_process_is_recorded_fatal_and_chained(
    collected, log_records, use_settings, monkeypatch
):
    """sys.excepthook records the exception as fatal, then calls the previous hook."""
    monkeypatch.setenv("OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN", "logs")
    use_settings()
    exc = MemoryError("out of memory")
    sys.excepthook(MemoryError, exc, None)
    assert collected.uncaught == [exc]
    (record,) = [r.log_record for r in log_records.get_finished_logs()]
    assert (record.severity_text, record.attributes["error.code"]) == ("FATAL", "SYS-001")


def _orphan_task(loop: asyncio.AbstractEventLoop, exc: BaseException) -> None:
    async def orphan() -> None:
        raise exc

    task = loop.create_task(orphan())
    loop.run_until_complete(asyncio.sleep(0.01))
    assert task.done()
    del task
    gc.collect()


@pytest.mark.parametrize("new_loop", [asyncio.new_event_loop, uvloop.new_event_loop])
def test_asyncio_unretrieved_task_exception_is_recorded(collected, spans, new_loop):
    """A task exception nobody retrieved is recorded, on loops made before instrumenting too."""
    loop = new_loop()
    reported: list[dict] = []
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    instrumentor = ProcessHooksErrorsInstrumentor()
    instrumentor.instrument()
    try:
        exc = TimeoutError("nobody awaited me")
        _orphan_task(loop, exc)
    finally:
        instrumentor.uninstrument()
        loop.close()
    assert [c["exception"] for c in reported] == [exc]
    span = spans.named("asyncio.exception_handler")
    assert span.status.status_code is StatusCode.ERROR
    event = spans.only_exception()
    assert (event["error.code"], event["error.handled"]) == ("GEN-001", False)


def test_asyncio_failing_callback_is_recorded(instrumented, spans):
    """An exception in a loop callback is recorded; the default handler still logs it."""
    loop = asyncio.new_event_loop()
    logged: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = logged.append  # type: ignore[method-assign]
    asyncio_logger = logging.getLogger("asyncio")
    asyncio_logger.addHandler(handler)
    try:
        loop.call_soon(lambda: 1 / 0)
        loop.run_until_complete(asyncio.sleep(0.01))
    finally:
        asyncio_logger.removeHandler(handler)
        loop.close()
    assert [r.exc_info[0] for r in logged if r.exc_info] == [ZeroDivisionError]
    event = spans.only_exception()
    assert (event["error.code"], event["error.handled"]) == ("BUG-005", False)


def test_asyncio_report_during_a_request_gets_a_child_span(instrumented, spans, tracer):
    """A destructor-time report during a request goes to a child span; the request stays OK."""
    loop = asyncio.new_event_loop()
    loop.set_exception_handler(lambda _loop, _context: None)
    try:
        with tracer.start_as_current_span("request"):
            _orphan_task(loop, ValueError("stale"))
    finally:
        loop.close()
    request = spans.named("request")
    child = spans.named("asyncio.exception_handler")
    assert child.parent.span_id == request.context.span_id
    assert request.status.status_code is StatusCode.UNSET
    assert request.events == ()
    assert spans.only_exception()["error.code"] == "VAL-001"


def test_unraisable_exception_is_recorded_and_chained(instrumented, collected, spans):
    """An exception raised in __del__ is recorded unhandled; the previous hook still runs."""
    exc = PermissionError("finaliser failed")

    class Leaky:
        def __del__(self) -> None:
            raise exc

    Leaky()
    assert collected.unraisable == [exc]
    spans.named("sys.unraisablehook")
    event = spans.only_exception()
    assert (event["error.code"], event["error.handled"]) == ("GEN-002", False)


@pytest.fixture
def app_logger():
    logger = logging.getLogger("tests.hooks.app")
    logger.propagate = False  # no handler anywhere: recording must not depend on handlers
    yield logger
    logger.propagate = True


def test_logged_exception_is_recorded_handled_on_the_current_span(
    instrumented, spans, tracer, app_logger
):
    """logger.exception inside a span records the exception there, as handled."""
    with tracer.start_as_current_span("request"):
        try:
            int("x")
        except ValueError:
            app_logger.exception("bad input")
    request = spans.named("request")
    assert request.status.status_code is StatusCode.UNSET
    event = spans.only_exception()
    assert (event["error.code"], event["error.handled"]) == ("VAL-001", True)


def test_logged_exception_without_a_span_gets_a_span_of_its_own(instrumented, spans, app_logger):
    """exc_info=True outside any span records the exception on a short span of its own."""
    try:
        {}["key"]
    except KeyError:
        app_logger.warning("missing", exc_info=True)
    spans.named("otel_errors.record_error")
    event = spans.only_exception()
    assert (event["error.code"], event["error.handled"]) == ("BUG-003", True)


def _errors_by_handled(metric_points, code: str) -> dict[bool, int]:
    counts = {True: 0, False: 0}
    for attrs, value in metric_points("errors"):
        if attrs["error.code"] == code:
            counts[attrs["error.handled"]] += value
    return counts


def test_logged_then_raised_is_recorded_once_as_unhandled(
    instrumented, spans, tracer, app_logger, metric_points
):
    """Logged and raised again: one event, unhandled, and the counter says the same."""
    before = _errors_by_handled(metric_points, "VAL-001")
    with pytest.raises(ValueError, match="bad"), tracer.start_as_current_span("request"):
        try:
            raise ValueError("bad")
        except ValueError:
            app_logger.exception("failed")
            raise
    request = spans.named("request")
    assert request.status.status_code is StatusCode.ERROR
    assert request.attributes["error.type"] == "VAL-001"
    assert spans.only_exception()["error.handled"] is False
    after = _errors_by_handled(metric_points, "VAL-001")
    assert (after[False] - before[False], after[True] - before[True]) == (1, 0)


def test_logged_and_kept_is_counted_handled_when_its_span_ends(
    instrumented, spans, tracer, app_logger, metric_points
):
    """A logged exception that does not escape is counted once, handled, at its span's end."""
    before = _errors_by_handled(metric_points, "VAL-001")
    with tracer.start_as_current_span("request"):
        try:
            int("x")
        except ValueError:
            app_logger.exception("bad input")
        assert _errors_by_handled(metric_points, "VAL-001") == before  # outcome not known yet
    after = _errors_by_handled(metric_points, "VAL-001")
    assert (after[False] - before[False], after[True] - before[True]) == (0, 1)
    assert spans.only_exception()["error.handled"] is True


def test_logged_then_escaping_an_inner_span_fails_the_logging_span(
    instrumented, spans, tracer, app_logger
):
    """Logged on a span, raised again inside a child: the logged event becomes unhandled."""
    with (
        pytest.raises(KeyError),
        tracer.start_as_current_span("outer"),
    ):
        try:
            {}["missing"]
        except KeyError as exc:
            app_logger.exception("lookup failed")
            with tracer.start_as_current_span("inner"):
                raise exc from None
    outer = spans.named("outer")
    (event,) = [e for e in outer.events if e.name == "exception"]
    assert event.attributes["error.handled"] is False
    assert outer.attributes["error.type"] == "BUG-003"
    assert [e.name for e in spans.named("inner").events] == []


@pytest.mark.usefixtures("instrumented")
def test_logged_then_raised_as_a_log_record_is_an_error(
    tracer, app_logger, log_records, use_settings, monkeypatch
):
    """With exceptions as log records, a held one is emitted ERROR once its outcome is known."""
    monkeypatch.setenv("OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN", "logs")
    use_settings()
    with pytest.raises(ValueError, match="late"), tracer.start_as_current_span("request"):
        try:
            raise ValueError("late")
        except ValueError:
            app_logger.exception("failed")
            assert [r for r in log_records.get_finished_logs() if r.log_record.event_name] == []
            raise
    (record,) = [r.log_record for r in log_records.get_finished_logs() if r.log_record.event_name]
    assert (record.severity_text, record.attributes["error.handled"]) == ("ERROR", False)


def test_a_thread_ending_with_system_exit_is_not_recorded(instrumented, collected, spans):
    """Python ignores SystemExit in a thread silently; so does the thread hook."""
    exit_ = SystemExit(3)
    _raise_in_thread(exit_)
    assert collected.threads == [exit_]
    assert spans.all() == []


@pytest.mark.parametrize(
    ("logger", "level", "handled"),
    [
        ("grpc._server", logging.ERROR, False),  # "Exception calling application"
        ("uvicorn.error", logging.ERROR, False),  # "Exception in ASGI application"
        ("django.request", logging.ERROR, False),  # "Internal Server Error" (a 500)
        ("django.request", logging.WARNING, True),  # a 4xx the framework answered
        ("aiohttp.server", logging.ERROR, False),
        ("gunicorn.error", logging.ERROR, False),  # "Error handling request"
        ("celery.app.trace", logging.ERROR, False),  # a task "raised unexpected"
        ("grpc", logging.ERROR, True),  # not the server's logger
    ],
)
@pytest.mark.usefixtures("instrumented")
def test_a_server_s_log_of_an_escaped_exception_is_recorded_unhandled(
    spans, monkeypatch, logger, level, handled
):
    """Servers log what the application let escape before answering with a failure."""
    server_logger = logging.getLogger(logger)  # as a server configures it, whatever ran before
    monkeypatch.setattr(server_logger, "disabled", False)
    monkeypatch.setattr(server_logger, "propagate", False)
    previous = server_logger.level
    server_logger.setLevel(logging.INFO)
    try:
        int("x")
    except ValueError:
        server_logger.log(level, "failed", exc_info=True)
    finally:
        server_logger.setLevel(previous)
    assert spans.only_exception()["error.handled"] is handled


def test_records_without_exceptions_and_own_loggers_are_not_recorded(instrumented, spans):
    """Plain records, exc_info outside an except block, and our own loggers record nothing."""
    logger = logging.getLogger("tests.hooks.plain")
    logger.error("no exception here")
    logger.error("nothing is being handled", exc_info=True)  # noqa: LOG014 - the case under test
    for own in ("otel_errors", "otel_errors.internal", "opentelemetry.sdk"):
        _log_caught(logging.getLogger(own), RuntimeError(own))
    assert spans.all() == []


def _log_caught(logger: logging.Logger, exc: BaseException) -> None:
    try:
        raise exc
    except type(exc):
        logger.exception("caught")


def test_logging_is_not_recorded_after_uninstrument(collected, spans, app_logger):
    """After uninstrument, Logger.callHandlers is the original and nothing is recorded."""
    original = logging.Logger.callHandlers
    instrumentor = ProcessHooksErrorsInstrumentor()
    instrumentor.instrument()
    assert logging.Logger.callHandlers is not original
    instrumentor.uninstrument()
    assert logging.Logger.callHandlers is original
    try:
        raise ValueError("after")
    except ValueError:
        app_logger.exception("after uninstrument")
    assert spans.all() == []


def test_uninstrument_restores_exactly_the_previous_hooks(collected):
    """After uninstrument the very hooks and methods that were there before are back."""
    before = (
        sys.excepthook,
        threading.excepthook,
        sys.unraisablehook,
        vars(asyncio.BaseEventLoop)["call_exception_handler"],
    )
    instrumentor = ProcessHooksErrorsInstrumentor()
    instrumentor.instrument()
    assert sys.excepthook is not before[0]
    assert threading.excepthook is not before[1]
    assert sys.unraisablehook is not before[2]
    assert vars(uvloop.Loop)["call_exception_handler"].__wrapped__
    instrumentor.uninstrument()
    after = (
        sys.excepthook,
        threading.excepthook,
        sys.unraisablehook,
        vars(asyncio.BaseEventLoop)["call_exception_handler"],
    )
    assert after == before
    assert "call_exception_handler" not in vars(uvloop.Loop)


def test_uninstrument_leaves_a_hook_installed_over_ours(collected, spans):
    """A hook the application installed after us survives uninstrument, and ours goes quiet."""
    instrumentor = ProcessHooksErrorsInstrumentor()
    instrumentor.instrument()
    ours = threading.excepthook
    seen: list[BaseException] = []

    def theirs(args: threading.ExceptHookArgs) -> None:
        seen.append(args.exc_value)
        ours(args)

    threading.excepthook = theirs
    instrumentor.uninstrument()
    assert threading.excepthook is theirs
    exc = RuntimeError("after uninstrument")
    _raise_in_thread(exc)
    assert seen == [exc]
    assert collected.threads == [exc]
    assert spans.all() == []


@pytest.mark.usefixtures("instrumented")
def test_a_failure_inside_the_hooks_never_reaches_the_application(
    collected, spans, app_logger, monkeypatch, metric_points
):
    """When recording fails, the previous hooks still run and logging still works."""

    def broken() -> None:
        raise RuntimeError("recorder exploded")

    monkeypatch.setattr(hooks, "get_recorder", broken)
    monkeypatch.setattr(logging_exc_info, "record_logged", lambda *a, **k: broken())
    exc = ConnectionResetError("thread died")
    _raise_in_thread(exc)
    assert collected.threads == [exc]
    logged: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = logged.append  # type: ignore[method-assign]
    app_logger.addHandler(handler)
    try:
        try:
            raise ValueError("logged")
        except ValueError:
            app_logger.exception("still logged")
    finally:
        app_logger.removeHandler(handler)
    assert [r.getMessage() for r in logged] == ["still logged"]
    failures = {
        attrs["component"]
        for attrs, _ in metric_points("otel_errors.internal_failures")
        if attrs["component"].startswith("process_hooks")
    }
    assert {"process_hooks.threading.excepthook", "process_hooks.logging"} <= failures
    assert spans.all() == []
