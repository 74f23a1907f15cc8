"""What a forked child resets, in one place: our locks, our counts, the SDK's metric state.

Why: ``os.fork`` copies memory but only the thread that forked. A lock another thread
held at that moment (a batch being written, an error being counted) stays held
forever in the child, and the child hangs at its first error or at exit. Pre-fork
servers (gunicorn, uWSGI, Celery prefork, multiprocessing) fork while the parent's
threads work. The child also inherits the parent's metric aggregations, so with
cumulative temporality every child re-exported the parent's counts as its own.

Every lock of ours is made by :func:`lock` or :func:`rlock`, which remember it (weakly)
so that the child gets it back released. :func:`_reset_in_child` is the one list of
everything else the child starts afresh; it runs from ``os.register_at_fork``.
"""

from __future__ import annotations

import os
import threading
import weakref
from typing import Any

_locks: weakref.WeakSet[Any] = weakref.WeakSet()


def lock() -> threading.Lock:
    """A ``threading.Lock`` that a forked child gets back released."""
    new = threading.Lock()
    _locks.add(new)
    return new


def rlock() -> threading.RLock:
    """A ``threading.RLock`` that a forked child gets back released."""
    new = threading.RLock()
    _locks.add(new)
    return new


def _reset_in_child() -> None:
    """Runs in the child right after ``os.fork``: locks released, counts its own.

    Lazy imports: this module sits below everything it resets. Each step is guarded
    alone, so one failure cannot leave the rest held.
    """
    from otel_errors._internal.export import delivery
    from otel_errors._internal.pipeline import shutdown
    from otel_errors._internal.recording import active, fail_open, sdk_internals
    from otel_errors._internal.recording.fail_open import report_internal_failure
    from otel_errors._internal.recording.outcome import outcomes

    steps = (
        _release_locks,
        sdk_internals.reset_metrics_after_fork,
        active.forget_parent_counts,
        delivery.forget_parent_counts,
        outcomes.forget_parent,
        fail_open.forget_parent_logs,
        shutdown.forget_parent_deadline,
    )
    for step in steps:
        try:
            step()
        except Exception as failure:  # noqa: PERF203 - each step fails alone
            report_internal_failure("fork.reset", failure)


def _release_locks() -> None:
    # CPython's own modules (threading, logging, concurrent.futures) use this method
    # for exactly this purpose since 3.9.
    for held in list(_locks):
        held._at_fork_reinit()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_in_child)
