"""grpcio server: a failed call answers ``otel-errors-*`` trailing metadata, when asked.

Only with ``OTEL_ERRORS_PROPAGATE_ERRORS=true`` (errors across services, see
``recording.upstream``): a servicer that raises or aborts gets, in its call's trailing
metadata, the code this service gives the failure, this service's name and where the
failure began (``otel-errors-code``, ``-service``, ``-origin``, ``-origin-code``:
the HTTP header names in lower case, as gRPC requires). Without the setting the
wrapper calls the servicer and returns; the answer is grpcio's own.

Where we hook, and why there: contrib's ``GrpcInstrumentorServer`` wraps ``grpc.server``
to add its interceptor, so we must not wrap ``grpc.server``. Every sync servicer call
goes through ``grpc._server._call_behavior(rpc_event, state, behavior, argument, ...)``,
which builds the servicer context and calls ``behavior(argument, context)``; it has
kept that shape throughout the grpcio range declared here. We hand it a behavior that
calls the servicer's and, on an exception (an ``abort`` raises one too), adds our
entries to the trailing metadata before grpcio sends the status. A servicer of a
response stream returns an iterator that grpcio iterates after ``_call_behavior``: that
iterator is handed on inside a generator that does the same when an iteration raises.
Entries the servicer set itself stay, and win. ``grpc.aio`` servers are hooked where
their handlers are registered (``aio_server``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from otel_errors._internal.helpers.fail_open import report_internal_failure
from otel_errors._internal.recording.patching import ImportPatches, Patch
from otel_errors._internal.recording.runtime import get_recorder
from otel_errors.integrations._patching import PatchingInstrumentor
from otel_errors.integrations.grpc import aio_server
from otel_errors.integrations.grpc.answering import add_trailing_metadata

if TYPE_CHECKING:
    from collections.abc import Callable, Generator

_BEHAVIOR_POSITION = 2


def _call_behavior(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    try:
        if get_recorder().settings.propagate_errors:
            if len(args) > _BEHAVIOR_POSITION:
                args = (*args[:_BEHAVIOR_POSITION], _answering(args[_BEHAVIOR_POSITION]), *args[3:])
            elif "behavior" in kwargs:
                kwargs = {**kwargs, "behavior": _answering(kwargs["behavior"])}
    except Exception as failure:
        report_internal_failure("grpc.call_behavior", failure)
    return wrapped(*args, **kwargs)


def _answering(behavior: Callable[..., Any]) -> Callable[..., Any]:
    """``behavior``, adding our trailing metadata to the context when it raises.

    Its arguments are passed on as they come: a non-blocking handler also gets
    grpcio's ``send_response_callback``.
    """

    def answering(argument: Any, context: Any, *callback: Any) -> Any:
        try:
            result = behavior(argument, context, *callback)
        except Exception as exc:
            add_trailing_metadata(context, exc)
            raise
        if isinstance(result, Iterator):  # a response stream, iterated by grpcio later
            return _answering_stream(result, context)
        return result

    return answering


def _answering_stream(responses: Iterator[Any], context: Any) -> Generator[Any, None, None]:
    """``responses``, adding our trailing metadata to the context when an iteration raises."""
    try:
        yield from responses
    except Exception as exc:
        add_trailing_metadata(context, exc)
        raise


_AIO = "grpc.aio._server"
_PATCHES = ImportPatches(
    "grpc",
    Patch("grpc._server", "_call_behavior", _call_behavior),
    Patch(_AIO, "Server.__init__", aio_server.init),
    Patch(_AIO, "Server.add_generic_rpc_handlers", aio_server.add_generic_rpc_handlers),
    Patch(_AIO, "Server.add_registered_method_handlers", aio_server.add_registered_method_handlers),
)


class GrpcErrorsInstrumentor(PatchingInstrumentor):
    """Adds ``otel-errors-*`` trailing metadata to failed calls of grpcio servers (when asked)."""

    requirements = ("grpcio >= 1.60",)
    """Grpcio 1.60 or newer."""
    patches = _PATCHES
