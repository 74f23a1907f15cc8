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
import sys
from typing import TYPE_CHECKING, Any

import wrapt
from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
    BaseInstrumentor,
)
from opentelemetry.instrumentation.utils import unwrap

from otel_errors._internal.shutdown import flush_and_report

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterator
    from types import ModuleType

_MODULE = "uvicorn.server"
_active = False
_watching = False


class UvicornErrorsInstrumentor(BaseInstrumentor):  # type: ignore[misc]  # untyped base
    """Flushes telemetry before uvicorn re-raises SIGTERM or SIGINT after a graceful stop."""

    def instrumentation_dependencies(self) -> Collection[str]:
        """Since 0.29 uvicorn raises the captured signal again after stopping."""
        return ("uvicorn >= 0.29",)

    def _instrument(self, **kwargs: Any) -> None:
        global _active, _watching  # noqa: PLW0603 - one post-import hook per process
        _active = True
        if not _watching:
            wrapt.register_post_import_hook(_patch, _MODULE)
            _watching = True
        elif _MODULE in sys.modules:
            _patch(sys.modules[_MODULE])

    def _uninstrument(self, **kwargs: Any) -> None:
        global _active  # noqa: PLW0603 - see _instrument
        _active = False
        module = sys.modules.get(_MODULE)
        if module is not None and _is_ours(module):
            unwrap(module.Server, "capture_signals")


def _is_ours(module: ModuleType) -> bool:
    method = vars(module.Server).get("capture_signals")
    return getattr(method, "_self_wrapper", None) is _capture_signals


def _patch(module: ModuleType) -> None:
    server = getattr(module, "Server", None)
    if _active and hasattr(server, "capture_signals") and not _is_ours(module):
        wrapt.wrap_function_wrapper(module, "Server.capture_signals", _capture_signals)


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
            if _active and getattr(server, "_captured_signals", None):
                flush_and_report()
