"""tenacity: every attempt of a retried call as a span event, a ``retries`` counter.

What is emitted, on the span current while the call retries:

- one ``retry.attempt`` event per attempt of a call that retried at least once:
  ``retry.attempt.number``, ``retry.outcome`` (``retry``: another attempt follows
  after ``retry.wait`` seconds; ``give_up``: no attempts left; ``success``; ``error``:
  an exception the retry policy does not retry, passed on), ``code.function`` (the
  retried function, when tenacity knows it) and, for an attempt that raised,
  ``exception.type`` and ``error.code``;
- the counter ``retries`` (meter ``otel_errors``, unit ``{retry}``), one per event,
  with ``code.function``, ``error.code`` and ``retry.outcome``: the number of
  retries is its ``retry.outcome="retry"`` series, give-ups and recoveries are the
  others.

A call whose first attempt succeeds, or raises something the policy does not retry,
emits nothing: no retry happened (the success path costs one attribute test).

The exceptions of failed attempts are not recorded as exception events: tenacity
handled them by retrying. The one the application finally sees (the last exception,
or ``RetryError`` wrapping it) is recorded where it ends up, by the span it escapes or
by ``otel_errors.handle``, and ``RetryError`` takes the code of the last attempt's
exception (``model/areas/resilience.py``; that works without this instrumentor). Nothing
the application sees changes: results, exceptions and tenacity's own callbacks are
untouched.

Where we hook, and why there: ``BaseRetrying.iter`` (every synchronous style:
``Retrying.__call__``, ``for attempt in Retrying()``, tornado) and
``AsyncRetrying.iter`` (a coroutine since tenacity 8.3). ``iter(retry_state)`` is the
one decision point all styles run through: given the outcome of an attempt, it returns
``DoSleep`` (retry), the result (done), or raises (the attempt's own exception, or the
give-up). Reading its answer tells what tenacity decided without evaluating the
application's retry, stop and wait policies a second time (they may have side effects)
and without touching its callbacks (``before_sleep``, ``after`` and
``retry_error_callback`` are the application's, per instance). A give-up and a
non-retried error can raise the same exception object (``reraise=True``); tenacity's
``iter_state.stop_run_result``, present since 8.3, tells them apart, hence the
minimum version.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opentelemetry import trace

from otel_errors._internal import names
from otel_errors._internal.helpers.fail_open import report_internal_failure
from otel_errors._internal.model.classification import qualified_name
from otel_errors._internal.recording.patching import ImportPatches, Patch
from otel_errors._internal.recording.runtime import current, get_recorder
from otel_errors.integrations._patching import PatchingInstrumentor

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from opentelemetry.metrics import Counter
    from opentelemetry.util.types import AttributeValue

RETRY_ATTEMPT_EVENT = "retry.attempt"
RETRY_ATTEMPT_NUMBER = "retry.attempt.number"
RETRY_OUTCOME = "retry.outcome"
RETRY_WAIT = "retry.wait"
RETRIES_METRIC = "retries"
CODE_FUNCTION = "code.function"
"""The endpoint attribute DESIGN.md names for the error counter (semconv's older name)."""

RETRY = "retry"
GIVE_UP = "give_up"
SUCCESS = "success"
ERROR = "error"


def _retry_state(args: Any, kwargs: Any) -> Any:
    return args[0] if args else kwargs.get("retry_state")


def _iter(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    retry_state = _retry_state(args, kwargs)
    outcome = getattr(retry_state, "outcome", None)
    if outcome is None:  # starting an attempt: nothing to observe yet
        return wrapped(*args, **kwargs)
    try:
        action = wrapped(*args, **kwargs)
    except BaseException as raised:
        _observe(instance, retry_state, outcome, None, raised)
        raise
    _observe(instance, retry_state, outcome, action, None)
    return action


def _async_iter(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Awaitable[Any]:
    retry_state = _retry_state(args, kwargs)
    outcome = getattr(retry_state, "outcome", None)
    if outcome is None:
        return wrapped(*args, **kwargs)  # type: ignore[no-any-return]
    return _observed(wrapped(*args, **kwargs), instance, retry_state, outcome)


async def _observed(decision: Awaitable[Any], retrying: Any, retry_state: Any, outcome: Any) -> Any:
    try:
        action = await decision
    except BaseException as raised:
        _observe(retrying, retry_state, outcome, None, raised)
        raise
    _observe(retrying, retry_state, outcome, action, None)
    return action


def _observe(
    retrying: Any, retry_state: Any, outcome: Any, action: Any, raised: BaseException | None
) -> None:
    """Emits the event and counts the attempt tenacity just decided on; never raises."""
    try:
        decision = _decision(retrying, action, raised)
        number = retry_state.attempt_number
        if number == 1 and decision in (SUCCESS, ERROR):
            return
        failure = outcome.exception() if outcome.failed else None
        attributes: dict[str, AttributeValue] = {
            RETRY_ATTEMPT_NUMBER: number,
            RETRY_OUTCOME: decision,
        }
        if decision == RETRY:
            attributes[RETRY_WAIT] = float(action)
        function = _function_name(getattr(retry_state, "fn", None))
        if function is not None:
            attributes[CODE_FUNCTION] = function
        if isinstance(failure, BaseException):
            attributes[names.EXCEPTION_TYPE] = qualified_name(type(failure))
            attributes[names.ERROR_CODE] = get_recorder().classify(failure).code
        span = trace.get_current_span()
        if span.is_recording():
            span.add_event(RETRY_ATTEMPT_EVENT, attributes)
        counted = (CODE_FUNCTION, names.ERROR_CODE, RETRY_OUTCOME)
        _retries().add(1, {k: v for k, v in attributes.items() if k in counted})
    except Exception as failure_here:
        report_internal_failure("tenacity", failure_here)


def _decision(retrying: Any, action: Any, raised: BaseException | None) -> str:
    stopped = bool(getattr(retrying.iter_state, "stop_run_result", False))
    if raised is not None:
        return GIVE_UP if stopped else ERROR
    from tenacity import DoSleep  # imported already: we run inside tenacity

    if isinstance(action, DoSleep):
        return RETRY
    return GIVE_UP if stopped else SUCCESS


def _function_name(fn: object) -> str | None:
    if fn is None:
        return None
    module = getattr(fn, "__module__", None)
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
    if not isinstance(name, str):
        return None
    return f"{module}.{name}" if isinstance(module, str) else name


def _retries() -> Counter:
    return current().instruments.counter(
        RETRIES_METRIC,
        unit="{retry}",
        description="Attempts of retried calls, by function, error code and outcome.",
    )


_PATCHES = ImportPatches(
    "tenacity",
    Patch("tenacity", "BaseRetrying.iter", _iter),
    Patch("tenacity", "AsyncRetrying.iter", _async_iter),
)


class TenacityErrorsInstrumentor(PatchingInstrumentor):
    """Attempts of tenacity-retried calls as span events and a ``retries`` counter."""

    requirements = ("tenacity >= 8.3",)
    """Needs tenacity 8.3 or newer (``iter_state``, coroutine ``AsyncRetrying.iter``)."""
    patches = _PATCHES
