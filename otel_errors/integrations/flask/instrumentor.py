"""Flask: unhandled errors recorded as unhandled, problem details on request, request ids.

Recording: ``Flask.handle_exception`` is where an exception that escaped the view
(and the application's error handlers) becomes a 500. We record it there as
unhandled, on the server span, *before* Flask logs it with ``log_exception``, so
that the logging hook finds it recorded already and its ``error.handled`` is what
happened: the application did not handle it.

Answers: by default Flask answers exactly as without otel_errors. Problem details
(see ``problem``) come from ``Flask._find_error_handler``, and only where Flask found
no handler of the application's: for an ``AppError`` (4xx from
``handle_user_exception``; 5xx after ``handle_exception`` logged it) and, with
``OTEL_ERRORS_PROBLEM_DETAILS=all``, for unhandled exceptions (status 500) and
``HTTPException``s that Flask does not trap (``TRAP_HTTP_EXCEPTIONS``,
``TRAP_BAD_REQUEST_ERRORS`` and the debug-mode ``KeyError`` trap make Flask re-raise,
and stay in charge). Clients that prefer HTML keep Flask's pages. Everything around
the handler is Flask's own flow: the ``got_request_exception`` signal, the error log,
``after_request`` functions, re-raising in debug or testing mode.

A request scope (see ``handling.begin_request``) opens in ``preprocess_request`` and
closes in ``do_teardown_request``: without a server span, an exception the view
logged and then let escape is still recorded once, as unhandled.

Console: Flask (and werkzeug's development server) give their logger a console handler
only when no handler up the chain takes its records; ``has_level_handler`` is wrapped so
that our OpenTelemetry handler on the root logger does not count (it prints nothing),
and Flask's app logger prints in Flask's format, as without otel_errors.

The request id is resolved in ``preprocess_request`` and, with
``OTEL_ERRORS_REQUEST_ID_ECHO``, echoed in ``process_response``, methods that contrib
does not touch; without contrib, the request is also recorded on
``http.server.request.duration`` there.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from opentelemetry import trace

from otel_errors._internal.helpers.fail_open import report_internal_failure
from otel_errors._internal.names import REQUEST_ID
from otel_errors._internal.recording import request_id
from otel_errors._internal.recording.app_error import AppError
from otel_errors._internal.recording.handling import (
    begin_request,
    end_request,
    own_span_if_none,
    record_error,
)
from otel_errors._internal.recording.patching import ImportPatches, Patch
from otel_errors._internal.recording.runtime import get_recorder
from otel_errors.integrations import _problem as problem
from otel_errors.integrations import _server_metrics as server_metrics
from otel_errors.integrations._patching import PatchingInstrumentor
from otel_errors.logging import has_level_handler_besides_ours

if TYPE_CHECKING:
    from collections.abc import Callable

    from flask import Response

_G_KEY = "_otel_errors_request_id"
_G_STARTED = "_otel_errors_started"
_G_SCOPE = "_otel_errors_request_scope"
_G_FAILURE = "_otel_errors_failure"


def _handle_exception(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    # Without a server span, a span of our own covers Flask's handling (its error log,
    # the 500 handler), so that both carry the trace the exception is recorded in.
    with own_span_if_none():
        try:
            error = args[0] if args else kwargs.get("e")
            if isinstance(error, BaseException):
                record_error(error, handled=False)
                _remember_failure(error)
        except Exception as failure:
            report_internal_failure("flask.handle_exception", failure)
        return wrapped(*args, **kwargs)


def _remember_failure(error: BaseException) -> None:
    """Keeps the failure Flask answers for ``process_response`` (``Otel-Errors-*`` headers)."""
    if get_recorder().settings.propagate_errors:
        from flask import g

        setattr(g, _G_FAILURE, error)


def _find_error_handler(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    handler = wrapped(*args, **kwargs)
    if handler is not None:
        return handler
    try:
        return _our_handler(instance, args[0] if args else kwargs["e"])
    except Exception as failure:
        report_internal_failure("flask.error_handler", failure)
    return None


def _our_handler(app: Any, error: BaseException) -> Callable[[BaseException], Response] | None:
    from flask import request
    from werkzeug.exceptions import HTTPException

    if problem.prefers_html(request.headers.get("Accept")):
        return None
    original = getattr(error, "original_exception", None)
    if isinstance(original, BaseException):  # handle_exception's InternalServerError
        return _answer_server_error if problem.wanted(original) else None
    if isinstance(error, HTTPException):
        trapped = app.trap_http_exception(error)
        return None if trapped or not problem.wanted(error) else _answer_http_exception
    if isinstance(error, AppError) and problem.wanted(error):
        entry = get_recorder().classifier.resolve(error.code)
        return _answer_app_error if entry.http_status < problem.SERVER_ERROR else None
    return None


def _json_response(answer: problem.Problem, headers: dict[str, str] | None = None) -> Response:
    from flask import Response

    response = Response(answer.json_bytes(), status=answer.status)
    response.headers.update({**answer.headers, **(headers or {})})
    return response


def _instance() -> str:
    from flask import request

    return str(request.path)


def _answer_app_error(error: BaseException) -> Response:
    return _json_response(problem.for_exception(error, instance=_instance()))


def _answer_server_error(error: BaseException) -> Response:
    original: BaseException = error.original_exception  # type: ignore[attr-defined]
    status = problem.unhandled_status(original)
    return _json_response(problem.for_exception(original, instance=_instance(), status=status))


def _answer_http_exception(error: BaseException) -> Response:
    status = int(getattr(error, "code", None) or problem.SERVER_ERROR)
    code = problem.web_code(status)
    if status >= problem.SERVER_ERROR:
        answer = problem.for_exception(error, instance=_instance(), status=status, code=code)
    else:
        entry = get_recorder().classifier.resolve(code)
        answer = problem.build(entry, instance=_instance(), status=status)
    description = getattr(error, "description", None)
    if isinstance(description, str) and description:
        answer.body["detail"] = description
    headers = {
        name: value
        for name, value in getattr(error, "get_headers", list)()
        if name.lower() not in ("content-type", "content-length")
    }
    return _json_response(answer, headers)


def _preprocess_request(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    try:
        from flask import g, request

        header = get_recorder().settings.request_id_header
        setattr(g, _G_KEY, request_id.begin(request.headers.get(header))[0])
        setattr(g, _G_SCOPE, begin_request())
    except Exception as failure:
        report_internal_failure("flask.request_id", failure)
    result = wrapped(*args, **kwargs)
    try:
        # contrib's before_request (run by the call above) started the server span.
        span = trace.get_current_span()
        rid = getattr(g, _G_KEY, None)
        if rid and span.is_recording():
            span.set_attribute(REQUEST_ID, rid)
        if not server_metrics.contrib_is_active():
            setattr(g, _G_STARTED, time.perf_counter())
    except Exception as failure:
        report_internal_failure("flask.request_id", failure)
    return result


def _process_response(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    response = wrapped(*args, **kwargs)
    try:
        from flask import g

        rid = getattr(g, _G_KEY, None)
        settings = get_recorder().settings
        header = settings.request_id_header
        if rid and settings.request_id_echo and header not in response.headers:
            response.headers[header] = rid
        failure = getattr(g, _G_FAILURE, None)
        if failure is not None:
            for name, value in problem.failure_headers(failure, response.status_code).items():
                if name not in response.headers:
                    response.headers[name] = value
        started = getattr(g, _G_STARTED, None)
        if started is not None:
            _count_request(response.status_code, time.perf_counter() - started)
    except Exception as failure:
        report_internal_failure("flask.request_id", failure)
    return response


def _do_teardown_request(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    try:
        from flask import g

        token = g.pop(_G_SCOPE, None)
        if token is not None:
            end_request(token)
    except Exception as failure:
        report_internal_failure("flask.request_scope", failure)
    return wrapped(*args, **kwargs)


def _has_level_handler(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """Our OpenTelemetry handler on the root logger must not cost Flask its console handler."""
    try:
        (logger,) = args
        return has_level_handler_besides_ours(logger)
    except Exception as failure:
        report_internal_failure("flask.has_level_handler", failure)
        return wrapped(*args, **kwargs)


def _count_request(status: int, duration: float) -> None:
    from flask import request

    rule = request.url_rule
    server_metrics.record_request(rule.rule if rule else None, request.method, status, duration)


_PATCHES = ImportPatches(
    "flask",
    *(
        Patch("flask", f"Flask.{method}", wrapper)
        for method, wrapper in (
            ("handle_exception", _handle_exception),
            ("_find_error_handler", _find_error_handler),
            ("preprocess_request", _preprocess_request),
            ("process_response", _process_response),
            ("do_teardown_request", _do_teardown_request),
        )
    ),
    Patch("flask.logging", "has_level_handler", _has_level_handler),
    Patch("werkzeug._internal", "_has_level_handler", _has_level_handler),
)


class FlaskErrorsInstrumentor(PatchingInstrumentor):
    """Problem details and request ids for every Flask application."""

    requirements = ("flask >= 2.2",)
    """Flask 2.2 or newer."""
    patches = _PATCHES
