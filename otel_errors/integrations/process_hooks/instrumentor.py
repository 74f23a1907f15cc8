"""Process-wide last-resort hooks: exceptions that never cross a span.

Some exceptions end without passing through any instrumented operation: the one that
ends the interpreter, one that ends a thread, the exception of an asyncio task nobody
awaited, one raised in ``__del__``, and one the application caught and logged. The
interpreter offers a reporting point for each; :class:`ProcessHooksErrorsInstrumentor`
records the exception there, once, and then hands over to whatever was installed
before, so the application's output and behaviour are unchanged:

- ``sys.excepthook``: unhandled and fatal (log records get severity FATAL). The
  providers are flushed (within the shutdown deadline, which the exit that follows
  shares) *before* the previous hook runs, because the process is about to die and
  the previous hook may end it without running ``atexit``. ``KeyboardInterrupt`` is
  an operator's Ctrl-C, not an error: it is not recorded.
- ``threading.excepthook``: unhandled; a span of our own carries ``thread.name`` and
  ``thread.id``. A thread that ends with ``SystemExit`` is not recorded: Python
  ignores that exit silently, and so do we.
- the asyncio loop's exception handler: unhandled (a task nobody awaited, a failing
  callback, a transport error).
- ``sys.unraisablehook``: unhandled (raised in ``__del__``, a finaliser, a callback
  the interpreter cannot raise from).
- ``logging`` records with ``exc_info``: handled; see ``logging_exc_info``.

Where the exception is recorded: on the current span if one is recording, otherwise on
a short span of our own named after the hook, unless the exception was recorded
already (it escaped a span, which recorded it with more context, before reaching the
hook). Exceptions reported from destructors and by the event loop surface at a point
unrelated to the code that raised them (the garbage collector may run in the middle of
any request), so they always get a span of their own, a child of the current span when
there is one: the trace shows where they surfaced, and an innocent span is not marked
failed.

asyncio, and why ``BaseEventLoop.call_exception_handler`` is wrapped on the class:
``loop.set_exception_handler`` is per loop (loops created before instrumenting would
be missed, and applications set their own, replacing ours), and
``default_exception_handler`` only runs when no custom handler is set.
``call_exception_handler`` is the single entry of every report (``Task.__del__``, also
from the C implementation, failing callbacks, transports), whatever handler is set,
for loops created before and after instrumenting. uvloop's loop does not inherit from
``BaseEventLoop``, but its Python class ``uvloop.Loop`` dispatches through the same
method name, so it is wrapped too, when uvloop is imported (a ``wrapt`` post-import
hook: servers import uvloop after the launcher instrumented).

Chaining and restoring: each hook remembers what it replaced when instrumenting and
always calls it; ``uninstrument()`` puts that back only if ours is still in place. If
something replaced ours since, theirs stays, and ours, still in their chain, only
passes through. The same holds for the wrapped methods.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from typing import TYPE_CHECKING, Any

import wrapt
from opentelemetry import trace
from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
    BaseInstrumentor,
)
from opentelemetry.semconv._incubating.attributes.thread_attributes import (
    THREAD_ID,
    THREAD_NAME,
)
from opentelemetry.trace import Status, StatusCode

from otel_errors._internal.helpers.fail_open import report_internal_failure
from otel_errors._internal.pipeline.shutdown import flush_before_exit
from otel_errors._internal.recording.runtime import get_recorder
from otel_errors.integrations.process_hooks import logging_exc_info

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Mapping
    from types import ModuleType, TracebackType

    from opentelemetry.util.types import AttributeValue

_TRACER_NAME = "otel_errors"
_LOOP_METHOD = "call_exception_handler"

SYS_EXCEPTHOOK = "sys.excepthook"
THREADING_EXCEPTHOOK = "threading.excepthook"
ASYNCIO_EXCEPTION_HANDLER = "asyncio.exception_handler"
SYS_UNRAISABLEHOOK = "sys.unraisablehook"


class _Guard(threading.local):
    busy = False


_guard = _Guard()
_active = False
_hooks: list[_ReplacedHook] = []
_wrapped_loops: list[tuple[type, bool]] = []
_watching_uvloop = False


class ProcessHooksErrorsInstrumentor(BaseInstrumentor):  # type: ignore[misc]  # untyped base
    """Records uncaught, thread, asyncio, unraisable and logged exceptions, once each."""

    def instrumentation_dependencies(self) -> Collection[str]:
        """None: only the standard library is involved."""
        return ()

    def _instrument(self, **kwargs: Any) -> None:
        global _active  # noqa: PLW0603 - the hooks are process-wide by nature
        _active = True
        _hooks[:] = [
            _ReplacedHook(sys, "excepthook", _on_uncaught, sys.__excepthook__),
            _ReplacedHook(threading, "excepthook", _on_thread_exception, threading.__excepthook__),
            _ReplacedHook(sys, "unraisablehook", _on_unraisable, sys.__unraisablehook__),
        ]
        _wrap_loop_class(asyncio.BaseEventLoop)
        _watch_uvloop()
        logging_exc_info.install()

    def _uninstrument(self, **kwargs: Any) -> None:
        global _active  # noqa: PLW0603 - see _instrument
        _active = False
        logging_exc_info.uninstall()
        for hook in reversed(_hooks):
            hook.restore()
        _hooks.clear()
        for owner, inherited in _wrapped_loops:
            current = vars(owner).get(_LOOP_METHOD)
            if (
                current is None
                or getattr(current, "_self_wrapper", None) is not _call_exception_handler
            ):
                continue  # wrapped again by someone else since: leave theirs
            if inherited:
                delattr(owner, _LOOP_METHOD)
            else:
                setattr(owner, _LOOP_METHOD, current.__wrapped__)
        _wrapped_loops.clear()


class _ReplacedHook:
    """Our callable in place of ``owner.attribute``, chained to what it replaced."""

    def __init__(
        self,
        owner: ModuleType,
        attribute: str,
        record: Callable[..., None],
        default: Callable[..., Any],
    ) -> None:
        self.owner = owner
        self.attribute = attribute
        self.record = record
        previous = getattr(owner, attribute, None)
        self.previous: Callable[..., Any] = previous if callable(previous) else default
        self.active = True
        setattr(owner, attribute, self)

    def __call__(self, *args: Any) -> Any:
        if self.active and _active:
            try:
                self.record(*args)
            except Exception as failure:
                report_internal_failure(f"process_hooks.{self.attribute}", failure)
        return self.previous(*args)

    def restore(self) -> None:
        self.active = False
        if getattr(self.owner, self.attribute, None) is self:
            setattr(self.owner, self.attribute, self.previous)


def record_last_resort(
    exc: BaseException,
    *,
    hook: str,
    handled: bool,
    fatal: bool = False,
    detached: bool = False,
    span_attributes: Mapping[str, AttributeValue] | None = None,
) -> None:
    """Records ``exc`` once, on the current span or a span of its own; never raises.

    Args:
        exc: The exception the hook was given.
        hook: Which hook saw it; also the name of the span of our own.
        handled: Whether the application handled it.
        fatal: It ends the process.
        detached: It surfaced away from the code that raised it (destructors, the
            event loop): always a span of our own, child of the current span if any.
        span_attributes: Attributes of the span of our own.
    """
    if _guard.busy:
        return
    _guard.busy = True
    try:
        _record(exc, hook, handled=handled, fatal=fatal, detached=detached, attrs=span_attributes)
    except Exception as failure:
        report_internal_failure(f"process_hooks.{hook}", failure)
    finally:
        _guard.busy = False


def _record(
    exc: BaseException,
    hook: str,
    *,
    handled: bool,
    fatal: bool,
    detached: bool,
    attrs: Mapping[str, AttributeValue] | None,
) -> None:
    recorder = get_recorder()
    current = trace.get_current_span()
    if current.is_recording() and not detached:
        _record_on(current, exc, handled=handled, fatal=fatal)
        return
    if recorder.was_recorded(exc):
        return
    with trace.get_tracer(_TRACER_NAME).start_as_current_span(
        hook, attributes=attrs, record_exception=False, set_status_on_exception=False
    ) as own:
        _record_on(own, exc, handled=handled, fatal=fatal)


def _record_on(span: trace.Span, exc: BaseException, *, handled: bool, fatal: bool) -> None:
    entry = get_recorder().record(span, exc, handled=handled, fatal=fatal)
    if not handled and span.is_recording():
        span.set_status(Status(StatusCode.ERROR, f"{entry.code}: {entry.title}"))


def _on_uncaught(
    exc_type: type[BaseException], exc: BaseException | None, tb: TracebackType | None
) -> None:
    if isinstance(exc, BaseException) and not isinstance(exc, KeyboardInterrupt):
        record_last_resort(exc, hook=SYS_EXCEPTHOOK, handled=False, fatal=True)
    flush_before_exit()


def _on_thread_exception(args: threading.ExceptHookArgs) -> None:
    exc = getattr(args, "exc_value", None)
    if not isinstance(exc, BaseException) or isinstance(exc, SystemExit):
        return
    thread = getattr(args, "thread", None)
    attributes: dict[str, AttributeValue] = {}
    if thread is not None:
        attributes[THREAD_NAME] = str(thread.name)
        if thread.ident is not None:
            attributes[THREAD_ID] = thread.ident
    record_last_resort(exc, hook=THREADING_EXCEPTHOOK, handled=False, span_attributes=attributes)


def _on_unraisable(unraisable: Any) -> None:
    exc = getattr(unraisable, "exc_value", None)
    if isinstance(exc, BaseException):
        record_last_resort(exc, hook=SYS_UNRAISABLEHOOK, handled=False, detached=True)


def _call_exception_handler(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    if _active:
        context = args[0] if args else kwargs.get("context")
        exc = context.get("exception") if isinstance(context, dict) else None
        if isinstance(exc, BaseException):
            record_last_resort(exc, hook=ASYNCIO_EXCEPTION_HANDLER, handled=False, detached=True)
    return wrapped(*args, **kwargs)


def _wrap_loop_class(owner: type) -> None:
    current = vars(owner).get(_LOOP_METHOD)
    if getattr(current, "_self_wrapper", None) is _call_exception_handler:
        return
    inherited = current is None
    wrapt.wrap_function_wrapper(owner, _LOOP_METHOD, _call_exception_handler)
    _wrapped_loops.append((owner, inherited))


def _watch_uvloop() -> None:
    """Wraps ``uvloop.Loop`` now if uvloop is imported, else as soon as it is."""
    global _watching_uvloop  # noqa: PLW0603 - one post-import hook per process
    if not _watching_uvloop:
        wrapt.register_post_import_hook(_on_uvloop_import, "uvloop")
        _watching_uvloop = True
    elif "uvloop" in sys.modules:
        _on_uvloop_import(sys.modules["uvloop"])


def _on_uvloop_import(module: ModuleType) -> None:
    try:
        loop_class = getattr(module, "Loop", None)
        if _active and isinstance(loop_class, type):
            _wrap_loop_class(loop_class)
    except Exception as failure:
        report_internal_failure("process_hooks.uvloop", failure)
