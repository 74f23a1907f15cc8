"""uvicorn: telemetry flushed before the server raises again the signal that stopped it.

Why: uvicorn stops gracefully on SIGTERM, puts back the signal handlers it found and
raises the signal again. Run alone, the handler it puts back is ours (``sigterm``),
which flushes. Under gunicorn (``uvicorn.workers.UvicornWorker``) the worker has reset
SIGTERM to its default action first, so the signal raised again kills the worker
without ``atexit``, and the worker's last batches, often the errors that led to the
restart, are lost. Wrapping ``Server.capture_signals`` flushes (within the shutdown
deadline) right before uvicorn raises the captured signal.

Patched when ``uvicorn.server`` is imported (a ``wrapt`` post-import hook), so
instrumenting never imports uvicorn.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from otel_errors._internal.pipeline.shutdown import flush_and_report
from otel_errors._internal.recording.patching import ImportPatches, Patch
from otel_errors.integrations._patching import PatchingInstrumentor

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator


def _capture_signals(
    wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any
) -> contextlib.AbstractContextManager[None]:
    return _flushing_before_reraise(wrapped(*args, **kwargs), instance)


@contextlib.contextmanager
def _flushing_before_reraise(
    captured: contextlib.AbstractContextManager[None], server: Any
) -> Iterator[None]:
    """``captured`` (uvicorn's own), flushing first when it is about to raise a signal."""
    with captured:
        try:
            yield
        finally:
            if getattr(server, "_captured_signals", None):
                flush_and_report()


_PATCHES = ImportPatches(
    "uvicorn", Patch("uvicorn.server", "Server.capture_signals", _capture_signals)
)


class UvicornErrorsInstrumentor(PatchingInstrumentor):
    """Flushes telemetry before uvicorn re-raises SIGTERM or SIGINT after a graceful stop."""

    requirements = ("uvicorn >= 0.29",)
    """Since 0.29 uvicorn raises the captured signal again after stopping."""
    patches = _PATCHES
