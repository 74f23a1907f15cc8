"""Structured, correlated logs for the standard ``logging`` module.

``install()`` (called by the distro; usable alone) gives the root logger:

- a JSON-lines console handler (stderr) with :class:`JsonFormatter`, when the
  application has not configured logging itself: an application that does
  (``basicConfig``, ``dictConfig``, ``fileConfig``, or handlers of its own) keeps its
  format, and ``basicConfig`` is never turned into a no-op by our handler;
- an :class:`OtelLogHandler` that emits every record through the OpenTelemetry
  logs pipeline (``LoggerProvider``, OTLP) with the same fields as attributes, so
  Loki receives them with trace ids. It survives ``basicConfig``/``dictConfig``. It
  is invisible to the application's console: where it is the only handler a record
  meets, the record still goes to ``logging.lastResort`` (stderr, WARNING and up),
  exactly as it would without us.

Servers configure loggers of their own that do not propagate to the root logger
(uvicorn's ``uvicorn`` and ``uvicorn.access``, Django's ``django.server``), each with
a plain-text console handler: left alone, their records (an escaped exception's
traceback among them) reach neither the OpenTelemetry pipeline nor the JSON console,
and the console mixes two formats. So, whenever logging is configured (at install and
after each ``basicConfig``/``dictConfig``/``fileConfig``), the loggers the units name
in ``framework_log_handlers`` get the OpenTelemetry handler when they do not
propagate, and, while our JSON console is on, their handlers whose formatter is still
the library's default format JSON lines instead. A formatter the application chose is
left alone, and so is everything when the JSON console is off (the default): the
console then prints exactly what the server prints without us.

Both use the fields of ``otel_errors._internal.recording.log_fields``. Records from the
``opentelemetry`` and ``otel_errors`` loggers never enter the OpenTelemetry
pipeline (an exporter logging its own failure must not feed itself), and a handler
failure is counted, never raised into the application.
"""

from __future__ import annotations

import json
import logging
import logging.config
import sys
import threading
from typing import TYPE_CHECKING, Any, TextIO

from opentelemetry import trace
from opentelemetry._logs import SeverityNumber, get_logger

from otel_errors._internal.helpers.fail_open import report_internal_failure
from otel_errors._internal.recording.log_fields import structure

if TYPE_CHECKING:
    from collections.abc import Callable

    from opentelemetry.context import Context

__all__ = ["JsonFormatter", "OtelLogHandler", "install", "uninstall"]

_OWN_LOGGERS = ("opentelemetry", "otel_errors")
_OTEL_SEVERITY_TEXT = {"WARNING": "WARN", "CRITICAL": "FATAL"}
_SEVERITIES = (
    (logging.CRITICAL, SeverityNumber.FATAL),
    (logging.ERROR, SeverityNumber.ERROR),
    (logging.WARNING, SeverityNumber.WARN),
    (logging.INFO, SeverityNumber.INFO),
    (logging.DEBUG, SeverityNumber.DEBUG),
)
_lock = threading.RLock()
_console: logging.Handler | None = None
_otel: OtelLogHandler | None = None
_originals: dict[str, Callable[..., Any]] = {}


def _resource() -> dict[str, Any]:
    resource = getattr(trace.get_tracer_provider(), "resource", None)
    return dict(resource.attributes) if resource is not None else {}


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object (the DESIGN.md log fields) per line."""

    def __init__(self) -> None:
        """Creates the formatter; the resource is read on first use."""
        super().__init__()
        self._resource: dict[str, Any] | None = None

    def format(self, record: logging.LogRecord) -> str:
        """The JSON line for ``record`` (never raises)."""
        if self._resource is None:
            self._resource = _resource()
        try:
            fields = structure(record, self._resource).fields
        except Exception as failure:
            report_internal_failure("logging.json", failure)
            fields = {"log_level": record.levelname, "message": str(record.msg)}
        return json.dumps(fields, ensure_ascii=False, default=str)


class OtelLogHandler(logging.Handler):
    """Emits records through the OpenTelemetry logs pipeline with the DESIGN.md fields."""

    def __init__(self, level: int = logging.NOTSET) -> None:
        """Creates the handler (it emits to the global logger provider)."""
        super().__init__(level)
        self._resource: dict[str, Any] | None = None
        self._local = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        """Translates and emits ``record``; recursion and own loggers are skipped."""
        _last_resort_unless_handled(record)
        if record.name.startswith(_OWN_LOGGERS) or getattr(self._local, "busy", False):
            return
        self._local.busy = True
        try:
            self._emit(record)
        except Exception as failure:
            report_internal_failure("logging.otel", failure)
        finally:
            self._local.busy = False

    def _emit(self, record: logging.LogRecord) -> None:
        if self._resource is None:
            self._resource = _resource()
        structured = structure(record, self._resource)
        fields = structured.fields
        attributes: dict[str, Any] = {
            key: fields[key]
            for key in ("error_code", "stack_trace", "request_id", "user_hash", "component")
            if fields.get(key) is not None
        }
        for key, value in fields["context"].items():
            if value is not None:
                attributes[f"context.{key}"] = value
        level_name = logging.getLevelName(structured.level)
        get_logger(record.name).emit(
            timestamp=int(record.created * 1e9),
            context=_trace_context(fields["trace_id"]),
            severity_number=severity_number(structured.level),
            severity_text=_OTEL_SEVERITY_TEXT.get(level_name, level_name),
            body=fields["message"],
            attributes=attributes,
        )


def _trace_context(trace_id: str | None) -> Context | None:
    """The current context; outside any span, the trace an escaped exception was recorded in.

    A server logs an exception the application let escape after the request's span
    ended; the record still belongs to that trace (its span id is unknown: zero).
    """
    if trace_id is None or trace.get_current_span().get_span_context().is_valid:
        return None
    span = trace.NonRecordingSpan(trace.SpanContext(int(trace_id, 16), 0, is_remote=False))
    return trace.set_span_in_context(span)


def _last_resort_unless_handled(record: logging.LogRecord) -> None:
    """What ``Logger.callHandlers`` does when it finds no handler, ours not counted."""
    last_resort = logging.lastResort
    if last_resort is None or record.levelno < last_resort.level:
        return
    logger: logging.Logger | None = logging.getLogger(record.name)
    while logger is not None:
        if any(not isinstance(h, OtelLogHandler) for h in logger.handlers):
            return
        logger = logger.parent if logger.propagate else None
    last_resort.handle(record)


def severity_number(level: int) -> SeverityNumber:
    """The OpenTelemetry severity of a ``logging`` level (custom levels round down)."""
    for threshold, severity in _SEVERITIES:
        if level >= threshold:
            return severity
    return SeverityNumber.TRACE


def install(*, console: bool = True, otel: bool = True, stream: TextIO | None = None) -> None:
    """Adds the JSON console handler and the OpenTelemetry handler to the root logger.

    Idempotent. The console handler is added only while the root logger has no
    handler of the application's; ``basicConfig``/``dictConfig``/``fileConfig`` are
    wrapped so that configuring logging later replaces it cleanly and keeps the
    OpenTelemetry handler.

    Args:
        console: Add the JSON-lines console handler.
        otel: Add the OpenTelemetry logs handler.
        stream: Where the console handler writes (stderr by default).
    """
    global _console, _otel  # noqa: PLW0603 - one set of handlers per process
    with _lock:
        if console and _console is None:
            _console = logging.StreamHandler(stream or sys.stderr)
            _console.setFormatter(JsonFormatter())
        if otel and _otel is None:
            _otel = OtelLogHandler()
        _wrap_config_functions()
        _attach()


def uninstall() -> None:
    """Removes our handlers and restores the logging configuration functions."""
    global _console, _otel  # noqa: PLW0603 - see install()
    with _lock:
        _detach()
        _console = _otel = None
        for name, original in _originals.items():
            owner = logging.config if name in ("dictConfig", "fileConfig") else logging
            setattr(owner, name, original)
        _originals.clear()


def _attach() -> None:
    root = logging.getLogger()
    if _otel is not None and _otel not in root.handlers:
        root.addHandler(_otel)
    others = [h for h in root.handlers if h not in (_console, _otel)]
    if _console is not None and not others and _console not in root.handlers:
        root.addHandler(_console)
    try:
        _join_framework_loggers()
    except Exception as failure:
        report_internal_failure("logging.framework_loggers", failure)


def _join_framework_loggers() -> None:
    """Server loggers of their own: into the OpenTelemetry pipeline, and JSON with ours."""
    from otel_errors._internal.recording.runtime import current

    loggers = list(logging.Logger.manager.loggerDict.values())
    if not any(isinstance(logger, logging.Logger) and _joinable(logger) for logger in loggers):
        return  # nothing below could change any logger: the registry is not loaded for nothing
    for name, defaults in current().registry.framework_log_handlers.items():
        logger = logging.getLogger(name)
        if not logger.handlers:
            continue  # not configured by its library (yet): it propagates to the root
        if _otel is not None and not logger.propagate and _otel not in logger.handlers:
            logger.addHandler(_otel)
        if _console is None or _console not in logging.getLogger().handlers:
            continue  # the JSON console is off, or the application's format won
        for handler in logger.handlers:
            if _is_default(handler.formatter, defaults):
                handler.setFormatter(JsonFormatter())


def _joinable(logger: logging.Logger) -> bool:
    """Whether joining could change ``logger``: it has handlers, and stops or formats records.

    At start-up the only configured loggers are libraries' with a ``NullHandler``
    (``urllib3``, ``requests``): neither step of the join applies to them.
    """
    return bool(logger.handlers) and (
        not logger.propagate or any(h.formatter is not None for h in logger.handlers)
    )


def _is_default(formatter: logging.Formatter | None, defaults: frozenset[str]) -> bool:
    """Whether ``formatter`` is a library's default: its class, or class and format string."""
    if formatter is None:
        return False
    qualified = f"{type(formatter).__module__}.{type(formatter).__qualname__}"
    return qualified in defaults or f"{qualified}:{getattr(formatter, '_fmt', '')}" in defaults


def has_level_handler_besides_ours(logger: logging.Logger) -> bool:
    """Flask's and werkzeug's ``has_level_handler``, our OpenTelemetry handler not counted.

    They give a logger their default console handler only when no handler up the chain
    takes its level. Ours does not print (it leaves the console to ``lastResort``), so
    counting it would make Flask's app logger print without Flask's format; our JSON
    console handler, when on, counts, as any handler of the application's does.
    """
    level = logger.getEffectiveLevel()
    current: logging.Logger | None = logger
    while current is not None:
        if any(h.level <= level and not isinstance(h, OtelLogHandler) for h in current.handlers):
            return True
        if not current.propagate:
            break
        current = current.parent
    return False


def attach_framework_loggers() -> None:
    """Joins server loggers configured without a logging configuration call (gunicorn's).

    A no-op until :func:`install` ran; never raises.
    """
    with _lock:
        if _console is None and _otel is None:
            return
        try:
            _join_framework_loggers()
        except Exception as failure:
            report_internal_failure("logging.framework_loggers", failure)


def _detach() -> None:
    root = logging.getLogger()
    for handler in (_console, _otel):
        if handler is not None and handler in root.handlers:
            root.removeHandler(handler)
    if _otel is not None:
        for logger in list(logging.Logger.manager.loggerDict.values()):
            if isinstance(logger, logging.Logger) and _otel in logger.handlers:
                logger.removeHandler(_otel)


def _wrap_config_functions() -> None:
    for owner, name in ((logging, "basicConfig"), (logging.config, "dictConfig"),
                        (logging.config, "fileConfig")):  # fmt: skip
        if name in _originals:
            continue
        original = getattr(owner, name)
        _originals[name] = original
        setattr(owner, name, _stepping_aside(original))


def _stepping_aside(original: Callable[..., Any]) -> Callable[..., Any]:
    def configure(*args: Any, **kwargs: Any) -> Any:
        with _lock:
            _detach()
            try:
                return original(*args, **kwargs)
            finally:
                if logging.getLogger().handlers:
                    _forget_console()
                _attach()

    configure.__wrapped__ = original  # type: ignore[attr-defined]
    configure.__doc__ = original.__doc__
    return configure


def _forget_console() -> None:
    """The application configured its own handlers: its format wins from now on."""
    global _console  # noqa: PLW0603 - see install()
    _console = None
