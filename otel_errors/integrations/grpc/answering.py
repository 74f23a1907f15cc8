"""The ``otel-errors-*`` entries a failed gRPC call answers, for sync and asyncio servers.

Shared by the grpcio server hook (``instrumentor``) and the ``grpc.aio`` one
(``aio_server``): both add the same entries to the call's trailing metadata when the
servicer raises, after the servicer's own entries, which win.
"""

from __future__ import annotations

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
        present = {str(_key(item)).lower() for item in existing}
        added = tuple(
            (name.lower(), value) for name, value in ours.items() if name.lower() not in present
        )
        if added:
            context.set_trailing_metadata(existing + added)
    except Exception as failure:
        report_internal_failure("grpc.trailing_metadata", failure)


def _key(item: Any) -> object:
    return item.key if hasattr(item, "key") else item[0]
