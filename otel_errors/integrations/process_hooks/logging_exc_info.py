"""Exceptions the application logged: ``logger.exception(...)`` and ``exc_info=True``.

An application that catches an exception and logs it with its traceback has looked
at it, and has usually decided to go on: the exception is recorded, with its code, on
the current span (or on a short span of its own when none is active, the rules of
``record_error``) as handled (``error.handled=true``), unless it escapes before that
span ends (``except: log.exception(...); raise``), in which case it is recorded as
unhandled: see ``outcome``. Part of ``ProcessHooksErrorsInstrumentor``; this module
only holds the logging concern.

Where we hook, and why there: ``logging.Logger.callHandlers``, wrapped on the class.
The alternative, a handler on the root logger, is fragile exactly where applications
differ: ``dictConfig``/``fileConfig`` and ``basicConfig(force=True)`` remove root
handlers, loggers with ``propagate=False`` never reach the root, and a handler's level
can hide records. ``callHandlers`` runs once for every record that logging decided to
emit (after the logger's level, its ``disabled`` flag and its filters), whatever
handlers exist and however often logging is reconfigured; it is also the method
Sentry's logging integration patches. A record without ``exc_info`` costs one
attribute test.

Servers are the exception: where a server catches what the application let escape,
logs it at ERROR and answers with a failure, nobody handled it, and the record is
recorded at once with ``error.handled=false`` (so it counts for the alerts on
unhandled errors). The loggers are named by the units of their libraries (``Unit.server_loggers``),
each checked against the library's source: ``grpc._server``
("Exception calling application": a sync servicer raised, the call ends UNKNOWN; it is
the only trace of it without the contrib gRPC instrumentation), ``uvicorn.error``
("Exception in ASGI application"), ``django.request`` ("Internal Server Error"; 4xx
are logged at WARNING and stay handled), ``aiohttp.server`` ("Error handling
request"), ``gunicorn.error`` ("Error handling request": the WSGI application raised)
and ``celery.app.trace`` (a task "raised unexpected"; expected ``throws`` are logged
at INFO). Flask logs with the application's own logger, so the Flask integration
records the exception as unhandled just before Flask logs it.

Never recorded: records of the ``otel_errors`` and ``opentelemetry`` loggers (an
exporter that logs its own failure must not feed new spans into the pipeline that is
failing), and anything logged while a record is being recorded (a thread-local
guard). A failure in here is counted and the record is then handled normally: the
application's logging never breaks because of us.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from wrapt import wrap_function_wrapper

from otel_errors._internal.helpers.fail_open import report_internal_failure
from otel_errors._internal.recording.handling import record_logged
from otel_errors._internal.recording.runtime import current

_OWN_LOGGERS = ("otel_errors", "opentelemetry")
_METHOD = "callHandlers"


class _Guard(threading.local):
    busy = False


_guard = _Guard()
_active = False


def install() -> None:
    """Wraps ``Logger.callHandlers`` (once) and starts recording logged exceptions."""
    global _active  # noqa: PLW0603 - one patch per process
    _active = True
    if not _is_ours(vars(logging.Logger).get(_METHOD)):
        wrap_function_wrapper(logging.Logger, _METHOD, _call_handlers)


def uninstall() -> None:
    """Stops recording; restores ``Logger.callHandlers`` unless someone wrapped it since."""
    global _active  # noqa: PLW0603 - see install()
    _active = False
    current = vars(logging.Logger).get(_METHOD)
    if current is not None and _is_ours(current):
        setattr(logging.Logger, _METHOD, current.__wrapped__)


def _is_ours(attribute: object) -> bool:
    return getattr(attribute, "_self_wrapper", None) is _call_handlers


def _call_handlers(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    record = args[0] if args else kwargs.get("record")
    exc_info = getattr(record, "exc_info", None)
    if exc_info and _active and not _guard.busy:
        _record(record, exc_info)
    return wrapped(*args, **kwargs)


def _record(record: logging.LogRecord, exc_info: Any) -> None:
    _guard.busy = True
    try:
        exc = exc_info[1] if isinstance(exc_info, tuple) and len(exc_info) == 3 else None  # noqa: PLR2004
        name = record.name if isinstance(record.name, str) else ""
        if isinstance(exc, BaseException) and not _is_own_logger(name):
            servers = current().registry.server_loggers
            unhandled = record.levelno >= logging.ERROR and name in servers
            record_logged(exc, handled=not unhandled)
    except Exception as failure:
        report_internal_failure("process_hooks.logging", failure)
    finally:
        _guard.busy = False


def _is_own_logger(name: str) -> bool:
    return any(name == own or name.startswith(own + ".") for own in _OWN_LOGGERS)
