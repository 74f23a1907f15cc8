"""gunicorn: its own loggers join structured logging once gunicorn has set them up.

Why: gunicorn gives ``gunicorn.error`` and ``gunicorn.access`` console handlers of its
own (``glogging.Logger.setup``, at start and on every reopen) without a logging
configuration call, so ``otel_errors.logging`` never hears of them: they would not
reach the OpenTelemetry logs pipeline and, with JSON console logs on, would still
print plain text (an escaped exception's traceback among them). Wrapping
``Logger.setup`` joins them right after gunicorn configured them (see
``otel_errors.logging``); a formatter the application chose is left alone.

Patched when ``gunicorn.glogging`` is imported (a ``wrapt`` post-import hook), so
instrumenting never imports gunicorn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from otel_errors._internal.helpers.fail_open import report_internal_failure
from otel_errors._internal.recording.patching import ImportPatches, Patch
from otel_errors.integrations._patching import PatchingInstrumentor
from otel_errors.logging import attach_framework_loggers

if TYPE_CHECKING:
    from collections.abc import Callable


def _setup(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    result = wrapped(*args, **kwargs)
    try:
        attach_framework_loggers()
    except Exception as failure:  # attach never raises; this guard is for the import
        report_internal_failure("gunicorn.logging", failure)
    return result


_PATCHES = ImportPatches("gunicorn", Patch("gunicorn.glogging", "Logger.setup", _setup))


class GunicornErrorsInstrumentor(PatchingInstrumentor):
    """Joins gunicorn's own loggers to structured logging after gunicorn sets them up."""

    requirements = ("gunicorn >= 22",)
    """``glogging.Logger.setup`` has set the handlers this way since gunicorn 22."""
    patches = _PATCHES
