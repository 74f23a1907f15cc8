"""pybreaker: state transitions as events and metrics, rejected calls as RES-001 errors.

What is emitted:

- every state transition of a breaker: a ``circuit_breaker.state_change`` event on the
  span current when it happened (``circuit_breaker.name``, ``circuit_breaker.state.from``,
  ``circuit_breaker.state.to``) and one on the counter ``circuit_breaker.transitions``
  (meter ``otel_errors``, same attributes);
- the observable gauge ``circuit_breaker.state`` per breaker name: 0 closed,
  1 half-open, 2 open (the worst state when several breakers share a name; breakers
  without a name are ``unnamed``);
- a call rejected because the circuit is open: its ``CircuitBreakerError`` is recorded
  as unhandled with ``RES-001`` (transient, retryable) and ``error.retry_after``, the
  seconds until the breaker lets a trial call through, on a short span of its own
  (``circuit_breaker.rejected``, child of the current span): like a client span, it
  records the failed operation, and the application's span stays OK if it falls
  back (with ``otel_errors.handle``, say); if the error escapes instead, that span
  gets status ERROR and ``error.type``, without a second event. The error the
  breaker raises when a failing call trips it is recorded wherever it ends up, as
  ``RES-001`` too (``resilience.toml``; that needs no instrumentor).

Where we hook, and why there:

- transitions come from pybreaker's listener API (``CircuitBreakerListener.state_change``):
  ``CircuitBreaker.__init__`` is wrapped to add one shared listener to every breaker
  created after instrumenting. Listeners are public and cost nothing per call, where
  a class-level patch of the state classes would rely on pybreaker's internals. The
  price: breakers created before instrumenting are not observed, which the launcher
  and ``import otel_errors.auto`` avoid by instrumenting before the application's
  modules are imported. ``uninstrument()`` removes the listener from every breaker.
- rejections are not visible to listeners (the open state raises before notifying
  them), so ``CircuitOpenState.before_call``, which raises the rejection, is wrapped;
  it only runs while a circuit is open. The same method also runs the trial call once
  the timeout elapsed; an error of that call is told apart by where it was raised
  (a rejection is raised by ``before_call`` itself) and left alone.
- ``error.retry_after`` reads the breaker's storage (``opened_at``) and
  ``reset_timeout``; with ``CircuitRedisStorage`` that is shared by every process.
"""

from __future__ import annotations

import weakref
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from opentelemetry import metrics, trace
from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
    BaseInstrumentor,
)
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.trace import Status, StatusCode

from otel_errors._internal import names
from otel_errors._internal.helpers import locks
from otel_errors._internal.helpers.fail_open import report_internal_failure
from otel_errors._internal.recording.patching import ImportPatches, OnImport, Patch
from otel_errors._internal.recording.runtime import current, get_recorder

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable
    from types import ModuleType


_TRACER_NAME = "otel_errors"
STATE_CHANGE_EVENT = "circuit_breaker.state_change"
REJECTED_SPAN = "circuit_breaker.rejected"
BREAKER_NAME = "circuit_breaker.name"
STATE_FROM = "circuit_breaker.state.from"
STATE_TO = "circuit_breaker.state.to"
TRANSITIONS_METRIC = "circuit_breaker.transitions"
STATE_METRIC = "circuit_breaker.state"
UNNAMED = "unnamed"
STATE_VALUES = {"closed": 0, "half-open": 1, "open": 2}
"""Gauge values of pybreaker's state names."""

_lock = locks.lock()
_breakers: weakref.WeakSet[Any] = weakref.WeakSet()
_listener: Any = None
_gauge_created = False


class PyBreakerErrorsInstrumentor(BaseInstrumentor):  # type: ignore[misc]  # untyped base
    """Breaker transitions as events, a counter and a gauge; rejections as RES-001."""

    def instrumentation_dependencies(self) -> Collection[str]:
        """Needs pybreaker 1.0 or newer."""
        return ("pybreaker >= 1.0",)

    def _instrument(self, **kwargs: Any) -> None:
        global _gauge_created  # noqa: PLW0603 - the gauge's callback is registered once
        meter = metrics.get_meter(names.METER_NAME)
        if not _gauge_created:
            meter.create_observable_gauge(
                STATE_METRIC,
                callbacks=[_observe_states],
                unit="1",
                description="Circuit breaker state: 0 closed, 1 half-open, 2 open.",
            )
            _gauge_created = True
        _PATCHES.apply()

    def _uninstrument(self, **kwargs: Any) -> None:
        _PATCHES.remove()


def _make_listener(pybreaker: ModuleType) -> None:
    """Our listener, a subclass of pybreaker's (made once pybreaker is imported)."""
    global _listener  # noqa: PLW0603 - process-wide, like the patch

    class ErrorsListener(pybreaker.CircuitBreakerListener):  # type: ignore[name-defined,misc]
        """Reports state transitions (the other notifications keep their no-op)."""

        def state_change(self, cb: Any, old_state: Any, new_state: Any) -> None:
            _on_state_change(cb, old_state, new_state)

    _listener = ErrorsListener()


def _drop_listener(pybreaker: ModuleType) -> None:
    """Takes our listener off every breaker it was added to."""
    global _listener  # noqa: PLW0603 - see _make_listener
    with _lock:
        breakers = list(_breakers)
        _breakers.clear()
    for breaker in breakers:
        if _listener in breaker.listeners:
            breaker.remove_listener(_listener)
    _listener = None


def _breaker_init(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> None:
    wrapped(*args, **kwargs)
    try:
        listener = _listener
        if listener is not None and listener not in instance.listeners:
            instance.add_listener(listener)
            with _lock:
                _breakers.add(instance)
    except Exception as failure:
        report_internal_failure("pybreaker.listener", failure)


def breaker_name(breaker: Any) -> str:
    """The breaker's name as reported in attributes (``unnamed`` without one)."""
    name = getattr(breaker, "name", None)
    return str(name) if name else UNNAMED


def _on_state_change(breaker: Any, old_state: Any, new_state: Any) -> None:
    try:
        attributes = {
            BREAKER_NAME: breaker_name(breaker),
            STATE_FROM: str(getattr(old_state, "name", "none")),
            STATE_TO: str(getattr(new_state, "name", "none")),
        }
        span = trace.get_current_span()
        if span.is_recording():
            span.add_event(STATE_CHANGE_EVENT, attributes)
        current().instruments.counter(
            TRANSITIONS_METRIC,
            unit="{transition}",
            description="Circuit breaker state transitions, by breaker and states.",
        ).add(1, attributes)
    except Exception as failure:
        report_internal_failure("pybreaker.state_change", failure)


def _observe_states(options: CallbackOptions) -> Iterable[Observation]:
    """The worst state per breaker name (read from each breaker's storage)."""
    worst: dict[str, int] = {}
    with _lock:
        breakers = list(_breakers)
    for breaker in breakers:
        try:
            value = STATE_VALUES.get(str(breaker.current_state))
        except Exception as failure:
            report_internal_failure("pybreaker.state_gauge", failure)
            continue
        if value is not None:
            name = breaker_name(breaker)
            worst[name] = max(value, worst.get(name, 0))
    return [Observation(value, {BREAKER_NAME: name}) for name, value in worst.items()]


def _open_before_call(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    try:
        return wrapped(*args, **kwargs)
    except Exception as exc:
        if _raised_by(exc, wrapped):
            _record_rejection(getattr(instance, "_breaker", None), exc)
        raise


def _raised_by(exc: BaseException, function: Any) -> bool:
    """Whether ``function`` itself raised ``exc`` (not something it called)."""
    code = getattr(getattr(function, "__func__", function), "__code__", None)
    tb = exc.__traceback__
    if tb is None or code is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    return tb.tb_frame.f_code is code


def _record_rejection(breaker: Any, exc: BaseException) -> None:
    try:
        attributes: dict[str, Any] = {}
        retry_after = _retry_after(breaker)
        if retry_after is not None:
            attributes[names.ERROR_RETRY_AFTER] = retry_after
        with trace.get_tracer(_TRACER_NAME).start_as_current_span(
            REJECTED_SPAN,
            attributes={BREAKER_NAME: breaker_name(breaker)},
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            entry = get_recorder().record(span, exc, handled=False, attributes=attributes)
            span.set_status(Status(StatusCode.ERROR, f"{entry.code}: {entry.title}"))
    except Exception as failure:
        report_internal_failure("pybreaker.rejection", failure)


def _retry_after(breaker: Any) -> float | None:
    """Seconds until the open breaker lets a trial call through (0 when it already may)."""
    timeout = getattr(breaker, "reset_timeout", None)
    storage = getattr(breaker, "_state_storage", None)
    opened_at = getattr(storage, "opened_at", None)
    if not isinstance(opened_at, datetime) or not isinstance(timeout, (int, float)):
        return None
    now = datetime.now(timezone.utc)
    if opened_at.tzinfo is None:  # pybreaker < 1.3 stores naive UTC times
        now = now.replace(tzinfo=None)
    remaining = float(timeout) - (now - opened_at).total_seconds()
    return round(max(remaining, 0.0), 3)


_PATCHES = ImportPatches(
    "pybreaker",
    OnImport("pybreaker", _make_listener, _drop_listener),
    Patch("pybreaker", "CircuitBreaker.__init__", _breaker_init),
    Patch("pybreaker", "CircuitOpenState.before_call", _open_before_call),
)
