"""The ``otel-errors-*`` entries a failed gRPC call answers, for sync and asyncio servers.

Shared by the grpcio server hook (``instrumentor``) and the ``grpc.aio`` one
(``aio_server``): both add the same entries to the call's trailing metadata when the
servicer raises, after the servicer's own entries, which win. A ``grpc.aio`` servicer
that calls ``context.abort()`` gets them from :func:`abort_metadata`, as grpc sends
the status inside ``abort``, before its exception leaves the servicer.
"""

from __future__ import annotations

import sys
from typing import Any

from otel_errors._internal.helpers.fail_open import report_internal_failure
from otel_errors._internal.recording import upstream
from otel_errors._internal.recording.runtime import get_recorder
from otel_errors.integrations.grpc import rules


def add_trailing_metadata(context: Any, exc: BaseException) -> None:
    """Adds this service's code, name and the failure's origin to ``context``'s trailers.

    Never raises: a failure here is counted and the call is answered as grpcio would.
    """
    try:
        # A call to another gRPC service that failed may be in the chain, unrecorded
        # (no client span): read its trailing metadata now, so the origin is the peer's.
        rules.upstream_attributes(exc, None, {})
        ours = upstream.answer_headers(exc, get_recorder().classify(exc).code)
        existing = tuple(context.trailing_metadata() or ())
        added = _missing(existing, ours)
        if added:
            context.set_trailing_metadata(existing + added)
    except Exception as failure:
        report_internal_failure("grpc.trailing_metadata", failure)


def abort_metadata(context: Any, code: Any, given: Any) -> Any:
    """The trailing metadata of an asyncio servicer's ``abort(code, ..., given)``, ours added.

    The failure is the abort: its code is the status's (``RPC-005`` for ``NOT_FOUND``),
    as for a sync servicer's abort. Its origin is that of the exception being handled,
    if any (``except RpcError: await context.abort(...)`` after a call to a failing
    peer names the peer's origin). ``given`` empty, grpc would send what
    ``set_trailing_metadata`` set: that is what ours join. Never raises: a failure here
    is counted and ``given`` is returned as it was.
    """
    try:
        name = getattr(code, "name", None)
        if name not in rules.STATUS_NUMBERS:  # OK, or not a status: grpc's to refuse
            return given
        handled = sys.exc_info()[1]
        if handled is not None:  # a failed call to a peer, unrecorded: read it now
            rules.upstream_attributes(handled, None, {})
        ours = upstream.answer_headers(handled, f"RPC-{rules.STATUS_NUMBERS[name]:03d}")
        existing = tuple(given) if given else tuple(context.trailing_metadata() or ())
        return existing + _missing(existing, ours)
    except Exception as failure:
        report_internal_failure("grpc.trailing_metadata", failure)
        return given


def _missing(existing: tuple[Any, ...], ours: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """Our entries whose names the servicer's ``existing`` entries do not hold."""
    present = {str(_key(item)).lower() for item in existing}
    return tuple(
        (name.lower(), value) for name, value in ours.items() if name.lower() not in present
    )


def _key(item: Any) -> object:
    return item.key if hasattr(item, "key") else item[0]
