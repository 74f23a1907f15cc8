"""Flush telemetry when the process is told to stop with SIGTERM.

Why: the SDK flushes its batches from ``atexit``, which a process killed by a
signal never runs. Servers such as uvicorn shut down gracefully on SIGTERM and then
re-raise the signal with its default action, so the last batch of spans (often the
very errors that led to the restart) is lost. This handler flushes the providers
within the shutdown deadline (see ``shutdown``) and then lets the signal do exactly
what it would have done: the default action is restored and the signal raised again,
so the exit status and control flow are unchanged.

Installed only from the main thread and only over the default action, so an
application's own SIGTERM handler is never replaced.
"""

from __future__ import annotations

import os
import signal
import threading
from typing import TYPE_CHECKING

from otel_errors._internal.pipeline.shutdown import flush_and_report

if TYPE_CHECKING:
    from types import FrameType


def install() -> bool:
    """Installs the handler if SIGTERM still has its default action; returns whether it did."""
    if threading.current_thread() is not threading.main_thread():
        return False
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return False
    signal.signal(signal.SIGTERM, _on_sigterm)
    return True


def _on_sigterm(signum: int, frame: FrameType | None) -> None:  # noqa: ARG001 - signal API
    flush_and_report()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)
