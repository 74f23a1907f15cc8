"""Routes the SDK's ``Span.record_exception`` through our recorder.

Why patch the SDK (DESIGN.md allows it only where no extension point can do the
job): the SDK gives no hook between an exception object and its span event. A span
processor sees the finished event, but not the exception: no ``AppError`` code, no
predicate rule, no cause chain, no identity to deduplicate by, and the vanilla
formatting cost is already paid. Every exception recorded by the SDK's own
``start_as_current_span`` and by contrib instrumentations goes through this method,
so wrapping it (with ``wrapt``) is what makes their events carry our attributes.

The wrapper replaces the body rather than calling it: the vanilla body formats the
traceback again, which is the cost the stack cache exists to avoid. Should our code
fail, the original body runs, so the exception is still recorded, and the failure is
counted.

Guarded by the SDK version: outside the tested range nothing is patched and a
warning says so (our own API keeps working).
"""

from __future__ import annotations

import logging
from typing import Any

import wrapt
from opentelemetry.instrumentation.utils import unwrap
from opentelemetry.sdk import trace as sdk_trace
from opentelemetry.sdk.version import __version__ as sdk_version

from otel_errors._internal.helpers.fail_open import report_internal_failure
from otel_errors._internal.recording.runtime import get_recorder
from otel_errors._internal.recording.sdk_internals import SUPPORTED_SDK, sdk_version_supported

logger = logging.getLogger("otel_errors")

_installed = False


def install() -> bool:
    """Wraps ``Span.record_exception``; returns whether it is (now) wrapped."""
    global _installed  # noqa: PLW0603 - the patch is process-wide by nature
    if _installed:
        return True
    if not sdk_version_supported():
        logger.warning(
            "otel_errors: opentelemetry-sdk %s is outside the supported range %s; exceptions "
            "recorded by the SDK and by instrumentations will not carry error codes",
            sdk_version,
            SUPPORTED_SDK,
        )
        return False
    wrapt.wrap_function_wrapper(sdk_trace, "Span.record_exception", _record_exception)
    _installed = True
    return True


def uninstall() -> None:
    """Restores the SDK's own ``record_exception``."""
    global _installed  # noqa: PLW0603 - see install()
    if _installed:
        unwrap(sdk_trace.Span, "record_exception")
        _installed = False


def _bind(
    exception: BaseException,
    attributes: Any = None,
    timestamp: int | None = None,
    escaped: bool = False,  # noqa: ARG001 - part of the SDK signature; handled is decided by us
) -> tuple[BaseException, Any, int | None]:
    return exception, attributes, timestamp


def _record_exception(
    wrapped: Any, instance: sdk_trace.Span, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    try:
        exception, attributes, timestamp = _bind(*args, **kwargs)
        if not isinstance(exception, BaseException):
            raise TypeError("not an exception")  # noqa: TRY301 - the SDK decides what to do
    except TypeError:
        wrapped(*args, **kwargs)  # not the call shape we know: the SDK's own behaviour
        return
    try:
        get_recorder().record(
            instance, exception, handled=False, attributes=attributes, timestamp=timestamp
        )
    except Exception as failure:
        report_internal_failure("record_exception", failure)
        wrapped(*args, **kwargs)
