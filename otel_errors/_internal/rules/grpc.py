"""gRPC rules: a failed call's status picks its code, and is recorded as an attribute.

grpcio raises ``grpc.RpcError`` for a failed call (``_InactiveRpcError`` for unary
calls, ``_MultiThreadedRendezvous`` for streams, ``grpc.aio.AioRpcError`` for the
asyncio API); the status is behind its ``code()`` method, not in the class, so a
class-name rule cannot tell ``UNAVAILABLE`` (retry) from ``INVALID_ARGUMENT`` (our
bug). The rule here reads the status by name, without importing grpc, and picks the
catalogue code numbered after it (``UNAVAILABLE`` = 14 -> ``RPC-014``); a status it
does not know, or an error without one, falls through to the ``grpc.RpcError``
entry of ``catalogs/rpc.toml``. The enricher adds the numeric status as
``rpc.grpc.status_code``, the attribute the RPC semantic conventions and the contrib
gRPC instrumentation use on spans.

On the server, a servicer ends a call with ``context.abort(code, details)``, which
grpcio implements by raising a bare ``Exception()`` (the contrib server interceptor
records it). Left alone that is an unknown programmer error, P2, for every
``NOT_FOUND`` a service answers; the rule recognises it by the frame it was raised
in (``abort`` of a ``grpc.`` module, the last frame of its traceback) and reads the
status from that frame's ``code`` argument, so the call gets the same code as on the
client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

    from opentelemetry import trace
    from opentelemetry.util.types import AttributeValue

    from otel_errors._internal.classification import Classifier

STATUS_NUMBERS = {
    "CANCELLED": 1,
    "UNKNOWN": 2,
    "INVALID_ARGUMENT": 3,
    "DEADLINE_EXCEEDED": 4,
    "NOT_FOUND": 5,
    "ALREADY_EXISTS": 6,
    "PERMISSION_DENIED": 7,
    "RESOURCE_EXHAUSTED": 8,
    "FAILED_PRECONDITION": 9,
    "ABORTED": 10,
    "OUT_OF_RANGE": 11,
    "UNIMPLEMENTED": 12,
    "INTERNAL": 13,
    "UNAVAILABLE": 14,
    "DATA_LOSS": 15,
    "UNAUTHENTICATED": 16,
}
"""gRPC status names and numbers (``OK`` is not a failure and has no code)."""

STATUS_ATTRIBUTE = "rpc.grpc.status_code"
MODULES = ("grpc.", "builtins.")
"""Where grpcio's error classes live (``grpc._channel``, ``grpc.aio._call``), and the
bare ``Exception`` of a servicer's ``abort``."""


def status_name(exc: BaseException) -> str | None:
    """The gRPC status name of a failed call (``"UNAVAILABLE"``), if it carries one."""
    if type(exc) is Exception:
        status = _aborted_with(exc)
    else:
        code = getattr(exc, "code", None)
        if not callable(code):
            return None
        try:
            status = code()
        except Exception:
            return None
    name = getattr(status, "name", None)
    return name if isinstance(name, str) and name in STATUS_NUMBERS else None


def _aborted_with(exc: BaseException) -> object:
    """The ``code`` argument of grpcio's ``abort`` if ``exc`` was raised there, else None."""
    last = exc.__traceback__
    if last is None:
        return None
    while last.tb_next is not None:
        last = last.tb_next
    frame = last.tb_frame
    if frame.f_code.co_name != "abort" or not str(frame.f_globals.get("__name__")).startswith(
        "grpc."
    ):
        return None
    return frame.f_locals.get("code")


def status_code(exc: BaseException) -> str | None:
    """The catalogue code of a failed call by its status, or None to fall through."""
    name = status_name(exc)
    return None if name is None else f"RPC-{STATUS_NUMBERS[name]:03d}"


def aborted_code(exc: BaseException) -> str | None:
    """The code of a servicer's ``abort`` (a bare ``Exception``); None for anything else."""
    return status_code(exc) if type(exc) is Exception else None


def status_attributes(
    exc: BaseException,
    span: trace.Span | None,  # noqa: ARG001 - the enricher signature
    attributes: Mapping[str, AttributeValue],  # noqa: ARG001 - the enricher signature
) -> dict[str, AttributeValue] | None:
    """``rpc.grpc.status_code`` of a failed call, for its exception event."""
    name = status_name(exc)
    return None if name is None else {STATUS_ATTRIBUTE: STATUS_NUMBERS[name]}


def register(classifier: Classifier) -> None:
    """Adds the rules for grpcio's ``RpcError`` and a servicer's abort (by name, no import)."""
    classifier.add("grpc.RpcError", status_code)
    classifier.add("Exception", aborted_code)
