"""``handle`` and ``record_error``: the application's way to say what it did with an error."""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
from time import time_ns
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from otel_errors._internal.helpers.fail_open import report_internal_failure
from otel_errors._internal.model.catalog import UNKNOWN, ErrorCode
from otel_errors._internal.recording.runtime import get_recorder

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator, Mapping
    from types import TracebackType
    from typing import ParamSpec

    P = ParamSpec("P")

R = TypeVar("R")
F = TypeVar("F")

_TRACER_NAME = "otel_errors"
_OWN_SPAN_NAME = "otel_errors.record_error"


def record_error(
    exc: BaseException,
    *,
    handled: bool = True,
    code: str | ErrorCode | None = None,
    attributes: Mapping[str, Any] | None = None,
    span: trace.Span | None = None,
) -> ErrorCode:
    """Records an exception the application caught itself.

    Recorded on ``span`` or the current span; with no recording span, on a short
    span of its own so that the error is never lost, unless it was recorded already
    (an outer layer such as a server's last-resort handler seeing it again after the
    request's span ended). Recording twice in one trace is a no-op. Never raises.

    Args:
        exc: The exception.
        handled: False when the error still fails the operation (the span then gets
            status ERROR and ``error.type``).
        code: Forces a catalogue code instead of classifying.
        attributes: Extra event attributes.
        span: Where to record; the current span when omitted.

    Returns:
        The catalogue entry the exception was classified as (``UNKNOWN`` if recording failed).
    """
    try:
        return _record(exc, handled=handled, code=code, attributes=attributes, span=span)
    except Exception as failure:
        report_internal_failure("record_error", failure)
        return UNKNOWN


def record_logged(exc: BaseException, *, handled: bool) -> None:
    """Records an exception a logger reported, where :func:`record_error` would.

    One the application logged (``handled``) waits on its span for its outcome: if it
    escapes before the span ends, it is recorded as unhandled (see ``outcome``). Never
    raises.
    """
    try:
        _record(exc, handled=handled, code=None, attributes=None, span=None, logged=handled)
    except Exception as failure:
        report_internal_failure("record_logged", failure)


def _record(
    exc: BaseException,
    *,
    handled: bool,
    code: str | ErrorCode | None,
    attributes: Mapping[str, Any] | None,
    span: trace.Span | None,
    logged: bool = False,
) -> ErrorCode:
    target = span if span is not None else trace.get_current_span()
    if target.is_recording():
        return _record_on(
            target, exc, handled=handled, code=code, attributes=attributes, logged=logged
        )
    recorder = get_recorder()
    if recorder.was_recorded(exc):
        return recorder.classifier.resolve(code) if code else recorder.classify(exc)
    waiting = _spanless_logged.get()
    if logged and waiting is not None and len(waiting) < _MAX_WAITING:
        waiting.append((exc, time_ns()))
        return recorder.classify(exc)
    with own_span_if_none() as own:
        return _record_on(own, exc, handled=handled, code=code, attributes=attributes)


_spanless_logged: contextvars.ContextVar[list[tuple[BaseException, int]] | None] = (
    contextvars.ContextVar("otel_errors_spanless_logged", default=None)
)
_MAX_WAITING = 64
"""Logged exceptions one request keeps waiting at most; more are recorded at once."""


def begin_request() -> contextvars.Token[list[tuple[BaseException, int]] | None]:
    """Opens a request scope for a web framework integration that has no server span.

    An exception the application logs outside any span waits in it for its outcome
    (as one logged on a span waits for the span's end, see ``outcome``): if it then
    escapes to the framework, it is recorded once, unhandled; what is still waiting
    when the request ends is recorded as handled, at the time it was logged.
    """
    return _spanless_logged.set([])


def end_request(token: contextvars.Token[list[tuple[BaseException, int]] | None]) -> None:
    """Closes the request scope; records what its logged exceptions turned out to be."""
    waiting = _spanless_logged.get() or []
    try:
        _spanless_logged.reset(token)
    except ValueError:  # closed from another context: the list is still ours to finish
        _spanless_logged.set(None)
    recorder = get_recorder()
    for exc, logged_at in waiting:
        if not recorder.was_recorded(exc):
            with own_span_if_none(start_time=logged_at) as own:
                recorder.record(own, exc, handled=True, timestamp=logged_at)


@contextlib.contextmanager
def request_scope() -> Iterator[None]:
    """:func:`begin_request` and :func:`end_request` around a block; never raises."""
    token = begin_request()
    try:
        yield
    finally:
        try:
            end_request(token)
        except Exception as failure:
            report_internal_failure("request_scope", failure)


@contextlib.contextmanager
def own_span_if_none(start_time: int | None = None) -> Iterator[trace.Span]:
    """The current span if it records, else a short span of our own, made current.

    Used where an error must be tied to a trace even outside any instrumented
    operation: ``record_error``, and web frameworks without their contrib
    instrumentation (the problem response then carries that span's trace id).
    """
    current = trace.get_current_span()
    if current.is_recording():
        yield current
        return
    with trace.get_tracer(_TRACER_NAME).start_as_current_span(
        _OWN_SPAN_NAME,
        start_time=start_time,
        record_exception=False,
        set_status_on_exception=False,
    ) as own:
        yield own


def _record_on(
    span: trace.Span,
    exc: BaseException,
    *,
    handled: bool,
    code: str | ErrorCode | None,
    attributes: Mapping[str, Any] | None,
    logged: bool = False,
) -> ErrorCode:
    entry = get_recorder().record(
        span, exc, handled=handled, code=code, attributes=attributes, logged=logged
    )
    if not handled and span.is_recording():
        span.set_status(Status(StatusCode.ERROR, f"{entry.code}: {entry.title}"))
    return entry


class ErrorHandler(Generic[F]):
    """What :func:`handle` returns: a decorator (sync or async) and a context manager."""

    def __init__(
        self,
        exc_types: tuple[type[BaseException], ...],
        *,
        fallback: F,
        reraise: bool,
        translate: Callable[[BaseException], BaseException] | None,
        code: str | ErrorCode | None,
        attributes: Mapping[str, Any] | None,
    ) -> None:
        """See :func:`handle`."""
        self.exc_types = exc_types
        self.fallback = fallback
        self.reraise = reraise
        self.translate = translate
        self.code = code
        self.attributes = attributes

    def _outcome(self, exc: BaseException) -> BaseException | bool:
        """Records ``exc``; returns True to suppress, False to re-raise, or the translation."""
        if not isinstance(exc, self.exc_types):
            return False
        if self.translate is not None:
            return self.translate(exc)
        record_error(exc, handled=not self.reraise, code=self.code, attributes=self.attributes)
        return not self.reraise

    def __enter__(self) -> ErrorHandler[F]:
        """Starts the guarded block."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        """Records a matching exception and suppresses it unless told to re-raise."""
        if exc is None:
            return False
        outcome = self._outcome(exc)
        if isinstance(outcome, BaseException):
            raise outcome from exc
        return outcome

    async def __aenter__(self) -> ErrorHandler[F]:
        """Starts the guarded block (``async with``)."""
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        """As :meth:`__exit__`."""
        return self.__exit__(exc_type, exc, tb)

    @overload
    def __call__(self, func: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R | F]]: ...
    @overload
    def __call__(self, func: Callable[P, R]) -> Callable[P, R | F]: ...
    def __call__(self, func: Callable[P, Any]) -> Callable[P, Any]:
        """Decorates ``func``: a matching exception returns the fallback instead."""
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
                try:
                    return await func(*args, **kwargs)
                except BaseException as exc:
                    outcome = self._outcome(exc)
                    if isinstance(outcome, BaseException):
                        raise outcome from exc
                    if not outcome:
                        raise
                    return self.fallback

            return async_wrapper

        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
            try:
                return func(*args, **kwargs)
            except BaseException as exc:
                outcome = self._outcome(exc)
                if isinstance(outcome, BaseException):
                    raise outcome from exc
                if not outcome:
                    raise
                return self.fallback

        return wrapper


@overload
def handle(
    *exc_types: type[BaseException],
    fallback: F,
    reraise: bool = False,
    translate: Callable[[BaseException], BaseException] | None = None,
    code: str | ErrorCode | None = None,
    attributes: Mapping[str, Any] | None = None,
) -> ErrorHandler[F]: ...
@overload
def handle(
    *exc_types: type[BaseException],
    reraise: bool = False,
    translate: Callable[[BaseException], BaseException] | None = None,
    code: str | ErrorCode | None = None,
    attributes: Mapping[str, Any] | None = None,
) -> ErrorHandler[None]: ...
def handle(
    *exc_types: type[BaseException],
    fallback: Any = None,
    reraise: bool = False,
    translate: Callable[[BaseException], BaseException] | None = None,
    code: str | ErrorCode | None = None,
    attributes: Mapping[str, Any] | None = None,
) -> ErrorHandler[Any]:
    """Handles exceptions of ``exc_types`` (default: ``Exception``) and records them.

    As a decorator (sync or async) or a context manager (``with``/``async with``)::

        @handle(ConnectionError, fallback=[])
        def recommendations(user): ...


        with handle(KeyError, translate=NotFound):
            row = cache[key]

    Exactly one of the outcomes applies to a matching exception:

    - default: recorded as handled (``error.handled=true``), suppressed; the
      decorated function returns ``fallback`` (None unless given);
    - ``reraise=True``: recorded as unhandled and re-raised unchanged (outer layers
      see the same object and do not record it again);
    - ``translate=``: an ``AppError`` class (or any callable) builds a new exception
      that is raised ``from`` the original; it is recorded where it ends up, with
      the original in its stack trace.

    Other exceptions pass through untouched. Recording never raises.

    Args:
        *exc_types: Exception classes to handle.
        fallback: Value the decorated function returns after a handled error.
        reraise: Record and re-raise instead of suppressing.
        translate: Builds the exception to raise instead (e.g. an AppError subclass).
        code: Forces a catalogue code instead of classifying.
        attributes: Extra event attributes.

    Raises:
        TypeError: contradicting options (``reraise`` with ``translate``), or a
            non-exception class in ``exc_types``.
    """
    if reraise and translate is not None:
        raise TypeError("handle(): reraise=True and translate= contradict each other")
    for exc_type in exc_types:
        if not (isinstance(exc_type, type) and issubclass(exc_type, BaseException)):
            raise TypeError(f"handle(): {exc_type!r} is not an exception class")
    return ErrorHandler(
        exc_types or (Exception,),
        fallback=fallback,
        reraise=reraise,
        translate=translate,
        code=code,
        attributes=attributes,
    )
