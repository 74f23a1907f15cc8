"""``grpc.aio`` servers: a failed call answers ``otel-errors-*`` trailing metadata, when asked.

The asyncio server runs servicers from Cython (no ``_call_behavior`` to hook, unlike
the sync server), and contrib's ``GrpcAioInstrumentorServer`` wraps ``grpc.aio.server``,
which we must not wrap again. What stays in Python is where handlers are registered:
``grpc.aio._server.Server.__init__`` (``grpc.aio.server(handlers=...)``),
``add_generic_rpc_handlers`` and ``add_registered_method_handlers``. There, with
``OTEL_ERRORS_PROPAGATE_ERRORS=true`` (read when the handlers are registered; off, the
handlers are passed on untouched), each coroutine servicer is wrapped:
when it raises, our entries join the trailing metadata before grpc sends the status.
``context.abort()`` sends the status itself, before its exception leaves the servicer:
so the servicer gets its context through a proxy (``wrapt``'s, as contrib's interceptor
does) whose ``abort`` adds our entries to the ones it sends.

Response streams are covered too: a servicer that is an async generator function is
handed on inside one that adds our entries when an iteration raises; one that writes
with ``context.write`` is a coroutine function, wrapped as a unary one. Not covered:
servicers that are neither (grpc runs those in its thread pool).
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

import wrapt

from otel_errors._internal.helpers.fail_open import report_internal_failure
from otel_errors._internal.recording.runtime import get_recorder
from otel_errors.integrations.grpc.answering import abort_metadata, add_trailing_metadata

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, AsyncIterator, Callable, Coroutine

_HANDLERS_POSITION = 1
"""``generic_handlers`` in ``Server.__init__(thread_pool, generic_handlers, ...)``."""
_BEHAVIORS = ("unary_unary", "stream_unary", "unary_stream", "stream_stream")


class _AnsweringHandler:
    """The application's generic handler, its servicers answering ours.

    Not a ``grpc.GenericRpcHandler`` subclass, so that this module does not import grpc
    (the asyncio server only calls ``service``).
    """

    def __init__(self, handler: Any) -> None:
        self._handler = handler

    def service(self, handler_call_details: Any) -> Any:
        """The application's method handler for the call, with answering servicers."""
        return answering_handler(self._handler.service(handler_call_details))


def answering_handler(method_handler: Any) -> Any:
    """``method_handler`` with its coroutine and async generator servicers answering ours.

    Only grpc's own handler tuples (``grpc.unary_unary_rpc_method_handler`` and
    friends) are rebuilt; anything else is returned as it is.
    """
    try:
        if method_handler is None or not hasattr(method_handler, "_replace"):
            return method_handler
        wrapped: dict[str, Callable[[Any, Any], Any]] = {}
        for name in _BEHAVIORS:
            behavior = getattr(method_handler, name, None)
            if inspect.iscoroutinefunction(behavior):
                wrapped[name] = _answering(behavior)
            elif inspect.isasyncgenfunction(behavior):
                wrapped[name] = _answering_stream(behavior)
        return method_handler._replace(**wrapped) if wrapped else method_handler
    except Exception as failure:
        report_internal_failure("grpc.aio_handler", failure)
        return method_handler


def _answering(
    behavior: Callable[[Any, Any], Coroutine[Any, Any, Any]],
) -> Callable[[Any, Any], Coroutine[Any, Any, Any]]:
    async def answering(request: Any, context: Any) -> Any:
        try:
            return await behavior(request, _AnsweringContext(context))
        except Exception as exc:
            if not _aborted(exc):
                add_trailing_metadata(context, exc)
            raise

    return answering


class _AnsweringContext(wrapt.ObjectProxy):  # type: ignore[type-arg]
    """A servicer's context whose ``abort`` sends our entries with the servicer's.

    Everything else is the context's own (a proxy passes ``isinstance`` checks).
    """

    async def abort(self, code: Any, details: Any = "", trailing_metadata: Any = ()) -> Any:
        """Aborts the call as grpc does, with :func:`abort_metadata`'s trailing metadata."""
        metadata = abort_metadata(self.__wrapped__, code, trailing_metadata)
        return await self.__wrapped__.abort(code, details, metadata)


def _answering_stream(
    behavior: Callable[[Any, Any], AsyncIterator[Any]],
) -> Callable[[Any, Any], AsyncGenerator[Any, None]]:
    async def answering(request: Any, context: Any) -> AsyncGenerator[Any, None]:
        try:
            async for response in behavior(request, _AnsweringContext(context)):
                yield response
        except Exception as exc:
            if not _aborted(exc):
                add_trailing_metadata(context, exc)
            raise

    return answering


def _aborted(exc: Exception) -> bool:
    """Whether ``context.abort()`` raised ``exc``: grpc has sent the status already.

    By name, as ``rules`` knows grpc's exceptions, so that nothing here imports grpc.
    """
    kind = type(exc)
    return kind.__name__ == "AbortError" and kind.__module__.startswith("grpc")


def _propagating() -> bool:
    return get_recorder().settings.propagate_errors


def init(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    """``Server.__init__``: the handlers given to ``grpc.aio.server(handlers=...)``."""
    try:
        if _propagating():
            if len(args) > _HANDLERS_POSITION and args[_HANDLERS_POSITION]:
                handlers = [_AnsweringHandler(h) for h in args[_HANDLERS_POSITION]]
                args = (*args[:_HANDLERS_POSITION], handlers, *args[_HANDLERS_POSITION + 1 :])
            elif kwargs.get("generic_handlers"):
                handlers = [_AnsweringHandler(h) for h in kwargs["generic_handlers"]]
                kwargs = {**kwargs, "generic_handlers": handlers}
    except Exception as failure:
        report_internal_failure("grpc.aio_handler", failure)
    return wrapped(*args, **kwargs)


def add_generic_rpc_handlers(
    wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any
) -> Any:
    """``Server.add_generic_rpc_handlers(generic_rpc_handlers)``."""
    try:
        if _propagating():
            if args:
                args = ([_AnsweringHandler(h) for h in args[0]], *args[1:])
            elif "generic_rpc_handlers" in kwargs:
                handlers = [_AnsweringHandler(h) for h in kwargs["generic_rpc_handlers"]]
                kwargs = {**kwargs, "generic_rpc_handlers": handlers}
    except Exception as failure:
        report_internal_failure("grpc.aio_handler", failure)
    return wrapped(*args, **kwargs)


def add_registered_method_handlers(
    wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any
) -> Any:
    """``Server.add_registered_method_handlers(service_name, method_handlers)``."""
    try:
        if _propagating():
            if len(args) > 1:
                handlers = {m: answering_handler(h) for m, h in args[1].items()}
                args = (args[0], handlers, *args[2:])
            elif "method_handlers" in kwargs:
                handlers = {m: answering_handler(h) for m, h in kwargs["method_handlers"].items()}
                kwargs = {**kwargs, "method_handlers": handlers}
    except Exception as failure:
        report_internal_failure("grpc.aio_handler", failure)
    return wrapped(*args, **kwargs)
