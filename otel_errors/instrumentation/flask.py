"""Flask: problem-details responses and request ids, with or without contrib's instrumentation.

Where we hook, and why there: contrib wraps ``Flask.wsgi_app`` per application and
registers ``before_request``/``teardown_request`` functions; we must not wrap those.
Flask decides how to answer an error in ``Flask._find_error_handler``, called by
``handle_user_exception``, ``handle_http_exception`` and ``handle_exception``.
When the application registered no handler for an error, we return ours, so Flask's
own flow stays intact around it: the ``got_request_exception`` signal, the error
log, ``after_request`` functions, and re-raising in debug or testing mode.

- ``AppError`` with a 4xx status: answered from ``handle_user_exception``, recorded
  as handled. With a 5xx status it is left to travel to ``handle_exception`` like any
  unhandled error, so Flask logs it.
- An unhandled exception (``InternalServerError`` wrapping the original): problem
  for the original, recorded as unhandled inside the server span.
- ``HTTPException`` from routing or ``abort()``: a ``WEB-<status>`` problem when the
  client prefers JSON (HTML clients keep Flask's pages); recorded only from 500 up.

The request id is resolved in ``preprocess_request`` and echoed in
``process_response``, methods that contrib does not touch; without contrib, the
request is also recorded on ``http.server.request.duration`` there.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
    BaseInstrumentor,
)
from opentelemetry.instrumentation.utils import unwrap
from wrapt import wrap_function_wrapper

from otel_errors._internal import problem, request_id, server_metrics
from otel_errors._internal.active import get_recorder
from otel_errors._internal.app_error import AppError
from otel_errors._internal.fail_open import report_internal_failure
from otel_errors._internal.names import REQUEST_ID

if TYPE_CHECKING:
    from collections.abc import Callable, Collection

    from flask import Response

_G_KEY = "_otel_errors_request_id"
_G_STARTED = "_otel_errors_started"


class FlaskErrorsInstrumentor(BaseInstrumentor):  # type: ignore[misc]  # untyped base
    """Problem details and request ids for every Flask application."""

    def instrumentation_dependencies(self) -> Collection[str]:
        """Flask 2.2 or newer."""
        return ("flask >= 2.2",)

    def _instrument(self, **kwargs: Any) -> None:
        wrap_function_wrapper("flask", "Flask._find_error_handler", _find_error_handler)
        wrap_function_wrapper("flask", "Flask.preprocess_request", _preprocess_request)
        wrap_function_wrapper("flask", "Flask.process_response", _process_response)

    def _uninstrument(self, **kwargs: Any) -> None:
        import flask

        for method in ("_find_error_handler", "preprocess_request", "process_response"):
            unwrap(flask.Flask, method)


def _find_error_handler(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    handler = wrapped(*args, **kwargs)
    if handler is not None:
        return handler
    try:
        if get_recorder().settings.problem_details:
            return _our_handler(args[0] if args else kwargs["e"])
    except Exception as failure:
        report_internal_failure("flask.error_handler", failure)
    return None


def _our_handler(error: BaseException) -> Callable[[BaseException], Response] | None:
    from werkzeug.exceptions import HTTPException, InternalServerError

    if isinstance(error, AppError):
        entry = get_recorder().classifier.resolve(error.code)
        return _answer_app_error if entry.http_status < problem.SERVER_ERROR else None
    if isinstance(error, InternalServerError):
        return _answer_server_error
    if isinstance(error, HTTPException) and error.code is not None and _prefers_json():
        return _answer_http_exception
    return None


def _prefers_json() -> bool:
    from flask import request

    accept = request.accept_mimetypes
    best = accept.best_match(["application/json", problem.CONTENT_TYPE, "text/html"])
    return best in ("application/json", problem.CONTENT_TYPE) or not accept


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
    original = getattr(error, "original_exception", None)
    if isinstance(original, BaseException):
        return _json_response(problem.for_exception(original, instance=_instance()))
    return _answer_http_exception(error)


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
        header = get_recorder().settings.request_id_header
        if rid and header not in response.headers:
            response.headers[header] = rid
        started = getattr(g, _G_STARTED, None)
        if started is not None:
            _count_request(response.status_code, time.perf_counter() - started)
    except Exception as failure:
        report_internal_failure("flask.request_id", failure)
    return response


def _count_request(status: int, duration: float) -> None:
    from flask import request

    rule = request.url_rule
    server_metrics.record_request(rule.rule if rule else None, request.method, status, duration)
