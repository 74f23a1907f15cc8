"""The mark a recorded exception carries: the id of the trace it was recorded in.

Apart from the recorder so that instrumentors can mark an exception without
importing the recorder (built on first use) at start-up.
"""

from __future__ import annotations

import contextlib

MARK = "_otel_errors_recorded_in_trace"
"""The exception's attribute holding the trace id (exceptions cannot be weakly referenced)."""


def mark_recorded(exc: BaseException, trace_id: int) -> None:
    """Marks ``exc`` as recorded in trace ``trace_id``, as ``ErrorRecorder.record`` does.

    For instrumentors that recorded the failure in another form first (an HTTP error
    response, later raised again by ``raise_for_status``): the recorder then gives
    ``exc`` no second event in that trace.
    """
    # An object refusing attributes is recorded again by outer spans, never lost.
    with contextlib.suppress(Exception):
        setattr(exc, MARK, trace_id)
