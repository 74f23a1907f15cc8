"""Celery: task failures and retries, recorded once, with and without the contrib instrumentation.

A real worker (``celery worker --pool=solo``) runs in a subprocess against the Redis
server from ``tests/servers.sh`` (broker and result backend, ``OTEL_ERRORS_TEST_REDIS_URL``),
on a queue of its own. It is configured with otel_errors' local exporter, and the
test reads the spans and metrics it wrote after stopping it (a warm shutdown flushes
everything). Three workers: ours alone, contrib instrumented first, ours first (the
launcher's order is not fixed). In-process tests use Celery's eager mode, which runs
the same tracer and signals without a broker.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import billiard.exceptions
import celery.exceptions
import kombu.exceptions
import pytest
from celery import Celery
from celery.result import AsyncResult
from opentelemetry.trace import StatusCode

import otel_errors
from otel_errors.integrations.celery import instrumentor as celery_instrumentation
from otel_errors.integrations.celery.instrumentor import CeleryErrorsInstrumentor

WORKER_APP = """
import os
import socket
import time

import otel_errors
from celery import Celery
from celery.result import AsyncResult
from otel_errors.integrations.celery.instrumentor import CeleryErrorsInstrumentor

otel_errors.configure(instrument=False, service_name="celery-worker")
mode = os.environ["TEST_INSTRUMENTATION"]
if mode == "contrib-first":
    from opentelemetry.instrumentation.celery import CeleryInstrumentor

    CeleryInstrumentor().instrument()
CeleryErrorsInstrumentor().instrument()
if mode == "ours-first":
    from opentelemetry.instrumentation.celery import CeleryInstrumentor

    CeleryInstrumentor().instrument()

# Bound but never listening: connecting to it is refused, for real.
_closed = socket.socket()
_closed.bind(("127.0.0.1", 0))
REFUSED = _closed.getsockname()[1]

url = os.environ["TEST_REDIS_URL"]
app = Celery("errors_app", broker=url, backend=url)
app.conf.task_default_queue = os.environ["TEST_QUEUE"]
app.conf.broker_connection_retry_on_startup = True


def connect():
    socket.create_connection(("127.0.0.1", REFUSED), timeout=5).close()


@app.task(name="errors_app.refused")
def refused():
    connect()


@app.task(bind=True, name="errors_app.flaky", max_retries=2)
def flaky(self):
    try:
        connect()
    except ConnectionRefusedError as exc:
        raise self.retry(exc=exc, countdown=0)


@app.task(bind=True, name="errors_app.bare_retry", max_retries=1)
def bare_retry(self):
    raise self.retry(countdown=0)


@app.task(name="errors_app.expected", throws=(LookupError,))
def expected():
    raise KeyError("absent")


@app.task(name="errors_app.ok")
def ok():
    return 42


@app.task(name="errors_app.lost")
def lost():
    os._exit(1)  # the pool process dies under the task


@app.task(name="errors_app.too_slow", time_limit=1)
def too_slow():
    time.sleep(30)  # killed by the hard time limit after 1 s
"""

MODES = ("alone", "contrib-first", "ours-first")
TASKS = ("refused", "flaky", "bare_retry", "expected", "ok")


@dataclass
class WorkerRun:
    """What one worker did: task ids and states, and the telemetry it exported."""

    mode: str
    task_ids: dict[str, str]
    states: dict[str, str]
    spans: list[dict]
    metrics: list[dict]

    def events(self, task: str) -> list[tuple[dict, dict]]:
        """``(span, exception event attributes)`` of every exception about ``task``."""
        task_id = self.task_ids[task]
        return [
            (span, event["attributes"])
            for span in self.spans
            if span["attributes"].get("messaging.message.id") == task_id
            for event in span["events"]
            if event["name"] == "exception"
        ]

    def summary(self, task: str) -> list[tuple[int, str, bool]]:
        """``(celery.task.retries, error.code, error.handled)`` per event, in run order."""
        return sorted(
            (span["attributes"]["celery.task.retries"], e["error.code"], e["error.handled"])
            for span, e in self.events(task)
        )


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _wait_until_ready(results: Iterable[AsyncResult], worker: subprocess.Popen, log: Path) -> None:
    """Polls the result backend until every task finished; fails early if the worker died."""
    deadline = time.monotonic() + 60
    while not all(result.ready() for result in results):
        if worker.poll() is not None:
            pytest.fail(f"the Celery worker exited early:\n{log.read_text()}")
        if time.monotonic() > deadline:
            pytest.fail(f"the tasks did not finish within 60 s:\n{log.read_text()}")
        time.sleep(0.05)


def _stop(worker: subprocess.Popen) -> None:
    worker.send_signal(signal.SIGTERM)  # warm shutdown: providers flush at exit
    try:
        worker.wait(timeout=60)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait(timeout=10)
        pytest.fail("the Celery worker did not stop within 60 s of SIGTERM")


def _run_worker(factory, redis_url: str, mode: str, pool: str, tasks: tuple[str, ...]) -> WorkerRun:
    """Starts a worker, runs ``tasks`` on it, stops it and reads what it exported."""
    home = factory.mktemp(f"celery-{pool}-{mode}")
    (home / "errors_app.py").write_text(textwrap.dedent(WORKER_APP))
    queue = f"otel-errors-test-{pool}-{mode}-{uuid.uuid4().hex[:8]}"
    data = home / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(
        PYTHONPATH=os.pathsep.join(filter(None, [str(home), os.environ.get("PYTHONPATH")])),
        OTEL_ERRORS_LOCAL_DIR=str(data),
        OTEL_BSP_SCHEDULE_DELAY="100",
        TEST_INSTRUMENTATION=mode,
        TEST_REDIS_URL=redis_url,
        TEST_QUEUE=queue,
    )
    log_path = home / "worker.log"
    log = log_path.open("w")
    command = [sys.executable, "-m", "celery", "-A", "errors_app", "worker", f"--pool={pool}"]
    command += ["--concurrency=1", "--queues", queue, "--hostname", f"{queue}@localhost"]
    command += ["--without-heartbeat", "--without-gossip", "--without-mingle", "-l", "INFO"]
    worker = subprocess.Popen(command, cwd=home, env=env, stdout=log, stderr=subprocess.STDOUT)
    producer = Celery("producer", broker=redis_url, backend=redis_url)
    try:
        results = {name: producer.send_task(f"errors_app.{name}", queue=queue) for name in tasks}
        _wait_until_ready(results.values(), worker, log_path)
        states = {name: result.state for name, result in results.items()}
        for result in results.values():
            result.forget()
    finally:
        _stop(worker)
        log.close()
        producer.close()
    assert worker.returncode == 0, log_path.read_text()
    return WorkerRun(
        mode=mode,
        task_ids={name: result.id for name, result in results.items()},
        states=states,
        spans=_lines(data / "spans.jsonl"),
        metrics=_lines(data / "metrics.jsonl"),
    )


@pytest.fixture(scope="module", params=MODES)
def worker_run(request, redis_url, tmp_path_factory) -> WorkerRun:
    """A solo-pool worker instrumented in one of the three ways, after running TASKS."""
    return _run_worker(tmp_path_factory, redis_url, request.param, "solo", TASKS)


@pytest.fixture(scope="module")
def prefork_run(redis_url, tmp_path_factory) -> WorkerRun:
    """A prefork worker whose pool process dies, or overruns its hard time limit."""
    return _run_worker(tmp_path_factory, redis_url, "alone", "prefork", ("lost", "too_slow"))


@pytest.mark.redis
def test_the_tasks_ran_as_the_application_expects(worker_run):
    """Instrumentation changes no task outcome: failures fail, the successful task succeeds."""
    assert worker_run.states == {
        "refused": "FAILURE",
        "flaky": "FAILURE",
        "bare_retry": "FAILURE",
        "expected": "FAILURE",
        "ok": "SUCCESS",
    }
    assert worker_run.events("ok") == []


@pytest.mark.redis
def test_a_final_failure_is_recorded_once_unhandled_with_the_task_identity(worker_run):
    """A failing task: one unhandled event with the exception's own code, on the task's span."""
    ((span, event),) = worker_run.events("refused")
    assert (event["error.code"], event["error.handled"]) == ("NET-001", False)
    assert event["exception.type"] == "ConnectionRefusedError"
    assert span["attributes"]["messaging.destination.name"] == "errors_app.refused"
    assert span["attributes"]["celery.task.retries"] == 0
    assert span["status"]["code"] == "ERROR"


@pytest.mark.redis
def test_retries_are_handled_events_and_the_last_failure_is_final(worker_run):
    """Two retries (handled) then the final failure (unhandled), one event per run."""
    assert worker_run.summary("flaky") == [
        (0, "NET-001", True),
        (1, "NET-001", True),
        (2, "NET-001", False),
    ]


@pytest.mark.redis
def test_a_retry_without_an_exception_and_running_out_of_retries(worker_run):
    """self.retry() without exc records TASK-002; exceeding max_retries fails with TASK-008."""
    assert worker_run.summary("bare_retry") == [(0, "TASK-002", True), (1, "TASK-008", False)]


@pytest.mark.redis
def test_expected_exceptions_declared_in_throws_are_handled(worker_run):
    """An exception listed in the task's ``throws`` is recorded once, as handled.

    Except when the contrib instrumentation's receiver runs first: it means to skip
    ``throws`` exceptions, but billiard 4 wraps them in its einfo and the check misses,
    so contrib records it as unhandled and ours then finds it recorded.
    """
    handled = worker_run.mode != "contrib-first"
    assert worker_run.summary("expected") == [(0, "BUG-003", handled)]


@pytest.mark.redis
def test_events_sit_on_the_contrib_span_when_it_exists(worker_run):
    """With the contrib instrumentation the task span holds the event; alone, a span of ours."""
    names = {span["name"] for task in TASKS for span, _ in worker_run.events(task)}
    if worker_run.mode == "alone":
        assert names == {"celery.task_failure", "celery.task_retry"}
    else:
        assert names == {
            f"run/errors_app.{t}" for t in ("refused", "flaky", "bare_retry", "expected")
        }


@pytest.mark.redis
def test_the_errors_counter_is_labelled_with_the_task(worker_run):
    """The errors counter's endpoint attribute is the task name."""
    counted = {
        (p["attributes"].get("messaging.destination.name"), p["attributes"]["error.code"])
        for p in worker_run.metrics
        if p["name"] == "errors"
    }
    assert ("errors_app.refused", "NET-001") in counted
    assert ("errors_app.bare_retry", "TASK-008") in counted


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (billiard.exceptions.SoftTimeLimitExceeded(), "TASK-003"),
        (billiard.exceptions.TimeLimitExceeded(30), "TASK-003"),
        (billiard.exceptions.WorkerLostError("signal 9"), "TASK-004"),
        (celery.exceptions.Reject("bad input", requeue=False), "TASK-005"),
        (celery.exceptions.NotRegistered("tasks.missing"), "TASK-006"),
        (celery.exceptions.TaskRevokedError("revoked"), "TASK-007"),
        (billiard.exceptions.Terminated(15), "TASK-007"),
        (celery.exceptions.MaxRetriesExceededError(), "TASK-008"),
        (kombu.exceptions.OperationalError("connection refused"), "TASK-009"),
        (celery.exceptions.TimeoutError("result"), "TASK-010"),
        (kombu.exceptions.EncodeError("not serializable"), "TASK-011"),
        (celery.exceptions.BackendGetMetaError(task_id="x"), "TASK-012"),
        (celery.exceptions.ChordError("member failed"), "TASK-001"),
        (celery.exceptions.Retry(), "TASK-002"),
    ],
)
@pytest.mark.usefixtures("fresh_registry")
def test_task_system_errors_have_their_codes(exc, code):
    """Celery's, billiard's and kombu's own exceptions map to TASK-* codes without any import."""
    assert otel_errors.classify(exc).code == code


@pytest.fixture
def eager_app():
    app = Celery("eager", broker="memory://", backend="cache+memory://")
    app.conf.task_store_eager_result = True

    @app.task(name="eager.fails")
    def fails() -> None:
        raise TimeoutError("slow")

    yield app, fails
    app.close()


@pytest.fixture
def instrumented():
    instrumentor = CeleryErrorsInstrumentor()
    instrumentor.instrument()
    yield instrumentor
    instrumentor.uninstrument()


def test_an_eager_failure_inside_a_request_gets_a_child_span(
    instrumented, eager_app, spans, tracer
):
    """In eager mode the failure goes on a span of ours, child of the caller's span."""
    _, fails = eager_app
    with tracer.start_as_current_span("request"):
        result = fails.apply()
    assert isinstance(result.result, TimeoutError)
    request = spans.named("request")
    own = spans.named("celery.task_failure")
    assert own.parent.span_id == request.context.span_id
    assert own.status.status_code is StatusCode.ERROR
    assert own.attributes["messaging.destination.name"] == "eager.fails"
    assert request.status.status_code is StatusCode.UNSET
    event = spans.only_exception()
    assert (event["error.code"], event["error.handled"]) == ("GEN-001", False)


def test_uninstrument_disconnects_the_signals(eager_app, spans):
    """After uninstrument a failing task records nothing."""
    _, fails = eager_app
    instrumentor = CeleryErrorsInstrumentor()
    instrumentor.instrument()
    instrumentor.uninstrument()
    assert isinstance(fails.apply().result, TimeoutError)
    assert spans.all() == []


def test_a_failure_inside_the_receivers_never_reaches_the_task(
    instrumented, eager_app, spans, monkeypatch, metric_points
):
    """With recording broken the task's outcome is unchanged and the failure is counted."""

    def broken() -> None:
        raise RuntimeError("recorder exploded")

    monkeypatch.setattr(celery_instrumentation, "get_recorder", broken)
    _, fails = eager_app
    result = fails.apply()
    assert result.state == "FAILURE"
    assert isinstance(result.result, TimeoutError)
    failures = {a["component"] for a, _ in metric_points("otel_errors.internal_failures")}
    assert "celery.failure" in failures


@pytest.mark.redis
def test_failures_seen_by_the_worker_main_process_are_recorded(prefork_run):
    """A lost pool process and a hard time limit are recorded once each, unhandled."""
    assert prefork_run.states == {"lost": "FAILURE", "too_slow": "FAILURE"}
    codes = {
        task: [
            (s["name"], e["exception.type"], e["error.code"], e["error.handled"])
            for s, e in prefork_run.events(task)
        ]
        for task in ("lost", "too_slow")
    }
    assert codes == {
        "lost": [("celery.task_failure", "billiard.exceptions.WorkerLostError", "TASK-004", False)],
        "too_slow": [
            ("celery.task_failure", "billiard.exceptions.TimeLimitExceeded", "TASK-003", False)
        ],
    }
