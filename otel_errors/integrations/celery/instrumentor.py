"""Celery: task failures and retries, with the task's name, retry count and finality.

What is recorded, from Celery's signals:

- ``task_failure`` (the task failed for good: no retry left, or none asked for): the
  exception, unhandled (``error.handled=false``; our own span gets status ERROR), with
  its own code: a refused connection stays ``NET-001``. Exceptions the task declares
  in ``throws`` (Celery's "expected errors", which its worker does not log as errors)
  are recorded as handled. The signal also covers failures that happen outside the
  task's process: hard time limits and lost pool workers (``TASK-003``, ``TASK-004``).
- ``task_retry`` (the task asked to run again: ``self.retry(exc=...)`` or
  ``autoretry_for``): the reason's exception, as handled (``error.handled=true``),
  since the task dealt with it by scheduling another run; a retry without an exception
  records the ``Retry`` itself (``TASK-002``). Each run of a task is its own span, so
  a task that failed twice and then gave up shows two handled events and one
  unhandled one, each on the span of its run.

Where: on the task's span when ``opentelemetry-instrumentation-celery`` created one
(its ``run/<task>`` span is current while the task runs), otherwise on a short span of
our own (``celery.task_failure``, ``celery.task_retry``), child of the current span if
any (eager mode). That span carries ``messaging.destination.name`` (the task name,
which is what a Celery worker serves, and the endpoint of the ``errors`` counter),
``messaging.message.id`` (the task id) and ``celery.task.retries`` (how many times this
task had been retried before this run: 0 for the first run). On the contrib span these
are set as span attributes, at ``task_prerun`` and again before recording, so that
whichever receiver runs first (the order in which instrumentors were loaded is not
fixed), the span and the counter carry them.

Recorded once: the contrib instrumentation records the failure itself
(``span.record_exception`` in its ``task_failure`` receiver). Both receivers record
the same exception object on the same span, so the second one is a no-op, whichever
runs first; the event's attributes are the same either way (ours come from the
recorder, and contrib's recording goes through it too). The contrib instrumentation
records nothing for retries. It means to skip ``throws`` exceptions too, but its check
misses them since billiard 4 wraps the exception in its ``einfo``: when its receiver
runs before ours, such an exception is recorded once, as unhandled.

Celery reports a hard time limit twice, from its pool's error callback and from its
timeout handler, each with an exception object of its own: a failure is not recorded
again for a task id whose failure was just recorded with the same exception type (the
last 1024 are remembered).

Why signals and not patches: they are Celery's public extension point, and
``task_failure`` is the only place that sees failures raised in the worker's main
process (time limits, lost workers) as well as those raised in the task.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.semconv._incubating.attributes.messaging_attributes import (
    MESSAGING_DESTINATION_NAME,
    MESSAGING_MESSAGE_ID,
)
from opentelemetry.trace import Status, StatusCode

from otel_errors._internal.helpers import locks
from otel_errors._internal.helpers.fail_open import report_internal_failure
from otel_errors._internal.recording.patching import ImportPatches, OnImport
from otel_errors._internal.recording.runtime import current, get_recorder
from otel_errors.integrations._patching import PatchingInstrumentor

if TYPE_CHECKING:
    from types import ModuleType

    from opentelemetry.util.types import AttributeValue

CELERY_TASK_RETRIES = "celery.task.retries"
FAILURE_SPAN = "celery.task_failure"
RETRY_SPAN = "celery.task_retry"
CONTRIB_SCOPE = "opentelemetry.instrumentation.celery"
"""Instrumentation scope of the contrib instrumentation's task spans."""

_TRACER_NAME = "otel_errors"
_REMEMBERED_FAILURES = 1024


class RecentFailures(OrderedDict[tuple[str, type], None]):
    """Failures recorded lately, by task id and exception type (a runtime part)."""

    def __init__(self) -> None:
        """None yet."""
        super().__init__()
        self.lock = locks.lock()


def _connect(signals: ModuleType) -> None:
    signals.task_prerun.connect(_on_prerun, weak=False)
    signals.task_failure.connect(_on_failure, weak=False)
    signals.task_retry.connect(_on_retry, weak=False)


def _disconnect(signals: ModuleType) -> None:
    signals.task_prerun.disconnect(_on_prerun)
    signals.task_failure.disconnect(_on_failure)
    signals.task_retry.disconnect(_on_retry)


def _task_attributes(task: Any, request: Any, task_id: object) -> dict[str, AttributeValue]:
    """The task's name, id and retry count (when ``request`` is this task's)."""
    name = getattr(request, "shadow", None) or getattr(task, "name", None)
    attributes: dict[str, AttributeValue] = {}
    if isinstance(name, str):
        attributes[MESSAGING_DESTINATION_NAME] = name
    if isinstance(task_id, str):
        attributes[MESSAGING_MESSAGE_ID] = task_id
    retries = getattr(request, "retries", None)
    if isinstance(retries, int) and getattr(request, "id", None) == task_id:
        attributes[CELERY_TASK_RETRIES] = retries
    return attributes


def _contrib_task_span() -> trace.Span | None:
    """The contrib instrumentation's span of the running task, if it is current."""
    span = trace.get_current_span()
    scope = getattr(span, "instrumentation_scope", None)
    if span.is_recording() and getattr(scope, "name", None) == CONTRIB_SCOPE:
        return span
    return None


def _on_prerun(*args: Any, **kwargs: Any) -> None:
    try:
        span = _contrib_task_span()
        if span is not None:
            task = kwargs.get("task") or kwargs.get("sender")
            task_id = kwargs.get("task_id")
            span.set_attributes(_task_attributes(task, getattr(task, "request", None), task_id))
    except Exception as failure:
        report_internal_failure("celery.prerun", failure)


def _on_failure(*args: Any, **kwargs: Any) -> None:
    try:
        exc = _unwrap(kwargs.get("exception"))
        if exc is None:
            return
        task_id = kwargs.get("task_id")
        if not _first_report(task_id, exc):
            return
        task = kwargs.get("sender")
        attributes = _task_attributes(task, getattr(task, "request", None), task_id)
        throws = getattr(task, "throws", ())
        expected = isinstance(throws, tuple) and bool(throws) and isinstance(exc, throws)
        _record(exc, FAILURE_SPAN, attributes, handled=expected)
    except Exception as failure:
        report_internal_failure("celery.failure", failure)


def _first_report(task_id: object, exc: BaseException) -> bool:
    """False when this task's failure was just recorded with the same exception type."""
    if not isinstance(task_id, str):
        return True
    key = (task_id, type(exc))
    recent = current().part(RecentFailures)
    with recent.lock:
        if key in recent:
            return False
        recent[key] = None
        if len(recent) > _REMEMBERED_FAILURES:
            recent.popitem(last=False)
    return True


def _on_retry(*args: Any, **kwargs: Any) -> None:
    try:
        reason = kwargs.get("reason")
        cause = getattr(reason, "exc", None)
        exc = cause if isinstance(cause, BaseException) else reason
        if not isinstance(exc, BaseException):
            return
        request = kwargs.get("request")
        task_id = getattr(request, "id", None)
        attributes = _task_attributes(kwargs.get("sender"), request, task_id)
        _record(exc, RETRY_SPAN, attributes, handled=True)
    except Exception as failure:
        report_internal_failure("celery.retry", failure)


def _unwrap(exc: object) -> BaseException | None:
    """The exception itself, also when billiard wrapped it with its traceback."""
    inner = getattr(exc, "exc", None)
    if type(exc).__name__ == "ExceptionWithTraceback" and isinstance(inner, BaseException):
        return inner
    return exc if isinstance(exc, BaseException) else None


def _record(
    exc: BaseException, own_span: str, attributes: dict[str, AttributeValue], *, handled: bool
) -> None:
    recorder = get_recorder()
    span = _contrib_task_span()
    if span is not None:
        span.set_attributes(attributes)
        recorder.record(span, exc, handled=handled)
        return
    if recorder.was_recorded(exc):
        return
    with trace.get_tracer(_TRACER_NAME).start_as_current_span(
        own_span, attributes=attributes, record_exception=False, set_status_on_exception=False
    ) as own:
        entry = recorder.record(own, exc, handled=handled)
        if not handled:
            own.set_status(Status(StatusCode.ERROR, f"{entry.code}: {entry.title}"))


_PATCHES = ImportPatches("celery", OnImport("celery.signals", _connect, _disconnect))


class CeleryErrorsInstrumentor(PatchingInstrumentor):
    """Task failures and retries recorded with task name, retry count and finality."""

    requirements = ("celery >= 5",)
    """Needs Celery 5 or newer."""
    patches = _PATCHES
