"""gRPC rules: a failed call's status picks its code, and is recorded as an attribute.

grpcio raises ``grpc.RpcError`` for a failed call (``_InactiveRpcError`` for unary
calls, ``_MultiThreadedRendezvous`` for streams, ``grpc.aio.AioRpcError`` for the
asyncio API); the status is behind its ``code()`` method, not in the class, so a
class-name rule cannot tell ``UNAVAILABLE`` (retry) from ``INVALID_ARGUMENT`` (our
bug). The rule here reads the status by name, without importing grpc, and picks the
catalogue code numbered after it (``UNAVAILABLE`` = 14 -> ``RPC-014``); a status it
does not know, or an error without one, falls through to the ``grpc.RpcError``
entry of ``errors.toml``. The enricher adds the numeric status as
``rpc.grpc.status_code``, the attribute the RPC semantic conventions and the contrib
gRPC instrumentation use on spans.

On the server, a servicer ends a call with ``context.abort(code, details)``. The
sync server implements it by raising a bare ``Exception()``, the ``grpc.aio`` server
by raising ``AbortError``; the contrib server interceptors record the latter (and,
through their span's context manager, the former). Left alone that is an unknown
programmer error, P2, for every ``NOT_FOUND`` a service answers. Neither exception
carries the status, so the rule reads it from the traceback: the ``code`` argument
of the ``abort`` frame it passed through. For the bare ``Exception`` that must be
the frame it was raised in, in a ``grpc.`` module (a bare ``Exception`` is common
elsewhere). ``AbortError`` is only ever raised by grpcio's abort, but that is
Cython code whose frames show no arguments; the status is then found in the nearest
Python ``abort`` frame on the way out, the contrib interceptor's wrapper of the
servicer context. Without it (no contrib), nothing records an ``AbortError``; one
without a readable status falls back to ``RPC-100``.

Errors across services: a server running otel_errors names the failure's code, itself
and its origin in trailing metadata (``otel-errors-code``, ``-service``, ``-origin``,
``-origin-code``; see ``model.upstream``). :func:`upstream_attributes`, an upstream
reader (an enricher that also runs for an error on a span that is not sampled, so its
origin is counted), reads them from a failed call's ``trailing_metadata()`` (a client's
``RpcError``, found on the recorded exception or down its chain) with the same bounds
and checks as HTTP headers, attaches them to the ``RpcError`` (the recorder then puts
them on the event and in the fingerprint, and on every exception raised from it) and
on the client span.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from otel_errors._internal.model import upstream
from otel_errors._internal.model.classification import qualified_name

if TYPE_CHECKING:
    from collections.abc import Mapping

    from opentelemetry import trace
    from opentelemetry.util.types import AttributeValue

    from otel_errors._internal.model.classification import Classifier

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
"""Where grpcio's error classes live (``grpc._channel``, ``grpc.aio._call``,
``grpc._cython.cygrpc``), and the bare ``Exception`` of a servicer's ``abort``."""
ABORT_ERROR = "grpc._cython.cygrpc.AbortError"
"""What ``abort`` raises on a ``grpc.aio`` server (exported as ``grpc.aio.AbortError``)."""


def status_name(exc: BaseException) -> str | None:
    """The gRPC status name of a failed call (``"UNAVAILABLE"``), if it carries one."""
    if type(exc) is Exception:
        status = _aborted_with(exc)
    elif qualified_name(type(exc)) == ABORT_ERROR:
        status = _aio_aborted_with(exc)
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


def _aio_aborted_with(exc: BaseException) -> object:
    """The status of the innermost ``abort`` frame that names one, else None."""
    status: object = None
    current = exc.__traceback__
    while current is not None:
        frame = current.tb_frame
        if frame.f_code.co_name == "abort":
            code = frame.f_locals.get("code")
            if getattr(code, "name", None) in STATUS_NUMBERS:
                status = code
        current = current.tb_next
    return status


def status_code(exc: BaseException) -> str | None:
    """The catalogue code of a failed call by its status, or None to fall through."""
    name = status_name(exc)
    return None if name is None else f"RPC-{STATUS_NUMBERS[name]:03d}"


def aborted_code(exc: BaseException) -> str | None:
    """The code of a sync servicer's ``abort`` (a bare ``Exception``); None for anything else."""
    return status_code(exc) if type(exc) is Exception else None


def status_attributes(
    exc: BaseException,
    span: trace.Span | None,
    attributes: Mapping[str, AttributeValue],
) -> dict[str, AttributeValue] | None:
    """``rpc.grpc.status_code`` of a failed call, for its exception event."""
    name = status_name(exc)
    return None if name is None else {STATUS_ATTRIBUTE: STATUS_NUMBERS[name]}


_MAX_CHAIN = 16
_MAX_METADATA = 64
"""Trailing metadata entries looked at; a peer sending more is not read further."""


def upstream_attributes(
    exc: BaseException,
    span: trace.Span | None,
    attributes: Mapping[str, AttributeValue],
) -> dict[str, AttributeValue] | None:
    """Attaches what a failed call's trailing metadata says about an upstream failure.

    Returns nothing itself: the recorder adds the attached upstream's attributes (and
    those of any exception raised from the call) after the enrichers.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and len(seen) < _MAX_CHAIN and id(current) not in seen:
        seen.add(id(current))
        if upstream.carried_by(current) is not None:
            return None
        found = _read_trailing(current)
        if found is not None:
            upstream.attach(current, found)
            if span is not None and span.is_recording():
                span.set_attributes(found.attributes())
            return None
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    return None


def _read_trailing(exc: BaseException) -> upstream.Upstream | None:
    trailing = getattr(exc, "trailing_metadata", None)
    if not callable(trailing) or status_name(exc) is None:
        return None
    entries: list[tuple[object, object]] = []
    for item in trailing() or ():
        if len(entries) >= _MAX_METADATA:
            break
        key, value = (item.key, item.value) if hasattr(item, "key") else item
        entries.append((key, value))

    def lookup(name: str) -> str | bytes | None:
        wanted = name.lower()
        values = [v for k, v in entries if isinstance(k, str) and k.lower() == wanted]
        only = values[0] if len(values) == 1 else None
        return only if isinstance(only, (str, bytes)) else None

    return upstream.read(lookup)


def register(classifier: Classifier) -> None:
    """Adds the rules for grpcio's ``RpcError`` and a servicer's abort (by name, no import)."""
    classifier.add("grpc.RpcError", status_code)
    classifier.add(ABORT_ERROR, status_code)
    classifier.add("Exception", aborted_code)
