"""Starlette and FastAPI: unhandled errors recorded, problem details on request, request ids.

By default every answer is the framework's (see ``problem`` for when problem details
are produced). Where we hook, and why there: the contrib FastAPI instrumentation
rebuilds the middleware stack (``build_middleware_stack``) and puts its own middleware
inside a ``ServerErrorMiddleware``; we must not wrap what it wraps. Starlette's two
error middlewares are stable extension points that exist with and without contrib:

- ``ExceptionMiddleware.__init__``: after it ran, a handler for ``AppError`` is added
  (unless the application has its own) and, with ``OTEL_ERRORS_PROBLEM_DETAILS=all``,
  ours replace the *default* handlers of ``HTTPException`` and FastAPI's
  ``RequestValidationError`` (an application's own handlers are left alone). Each of
  ours hands a client that prefers HTML to what it replaced (the ``AppError`` handler
  re-raises, as if it did not exist);
- ``ServerErrorMiddleware.error_response``: the answer to an unhandled exception
  (used when the application has no 500 handler and debug is off). The exception is
  recorded there as unhandled (without contrib, nothing else records it before the
  server logs it), and answered with a problem only when :func:`problem.wanted`;
- ``ServerErrorMiddleware.__call__``: the outermost layer of every Starlette app
  opens a request scope (see ``handling.begin_request``), resolves the request id,
  puts it on the span and in a context variable and, with
  ``OTEL_ERRORS_REQUEST_ID_ECHO``, in the response headers; without contrib it also
  records the request on ``http.server.request.duration`` (see ``server_metrics``).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from otel_errors._internal.config.environment_variables import ProblemDetails
from otel_errors._internal.helpers.fail_open import report_internal_failure
from otel_errors._internal.recording import request_id
from otel_errors._internal.recording.app_error import AppError
from otel_errors._internal.recording.handling import own_span_if_none, record_error, request_scope
from otel_errors._internal.recording.patching import ImportPatches, Patch
from otel_errors._internal.recording.runtime import get_recorder
from otel_errors.integrations import _problem as problem
from otel_errors.integrations import _server_metrics as server_metrics
from otel_errors.integrations._patching import PatchingInstrumentor

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, MutableMapping

    from starlette.requests import Request
    from starlette.responses import Response

    Handler = Callable[[Request, Exception], Awaitable[Response]]

_SCOPE_KEY = "otel_errors.request_id"
_CONTRIB_KEY = "otel_errors.contrib_server_span"
_FAILURE_KEY = "otel_errors.failure"


def _response(
    answer: problem.Problem, extra_headers: MutableMapping[str, str] | None = None
) -> Response:
    from starlette.responses import Response

    headers = {**answer.headers, **(extra_headers or {})}
    media_type = headers.pop("content-type", problem.CONTENT_TYPE)
    return Response(
        answer.json_bytes(), status_code=answer.status, headers=headers, media_type=media_type
    )


def _exception_middleware_init(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> None:
    wrapped(*args, **kwargs)
    try:
        _install_handlers(instance, get_recorder().settings.problem_details)
    except Exception as failure:
        report_internal_failure("starlette.handlers", failure)


def _install_handlers(middleware: Any, mode: ProblemDetails) -> None:
    from starlette.exceptions import HTTPException

    if mode is ProblemDetails.OFF:
        return
    handlers: dict[Any, Any] = middleware._exception_handlers
    if AppError not in handlers:
        handlers[AppError] = _app_error_handler
    if mode is not ProblemDetails.ALL:
        return
    defaults: list[Any] = [getattr(middleware, "http_exception", None)]
    try:
        from fastapi import exception_handlers as fastapi_handlers
        from fastapi.exceptions import RequestValidationError
    except ImportError:  # plain Starlette
        pass
    else:
        defaults.append(fastapi_handlers.http_exception_handler)
        current = handlers.get(RequestValidationError)
        default = fastapi_handlers.request_validation_exception_handler
        if _is_default(current, [default]):
            handlers[RequestValidationError] = _unless_html(_validation_error_handler, default)
    current = handlers.get(HTTPException)
    if _is_default(current, defaults):
        handlers[HTTPException] = _unless_html(_http_exception_handler, current)


def _is_default(handler: Any, defaults: list[Any]) -> bool:
    return handler is None or any(handler == d for d in defaults if d is not None)


def _unless_html(ours: Handler, framework: Any) -> Handler:
    """``ours``, except for clients that prefer HTML: they get the framework's answer."""

    async def handler(request: Request, exc: Exception) -> Response:
        if framework is not None and problem.prefers_html(request.headers.get("accept")):
            result: Response = await _maybe_await(framework(request, exc))
            return result
        return await ours(request, exc)

    return handler


async def _maybe_await(value: Any) -> Any:
    """Starlette's default handlers are plain functions; FastAPI's are coroutines."""
    if hasattr(value, "__await__"):
        return await value
    return value


async def _app_error_handler(request: Request, exc: Exception) -> Response:
    if problem.prefers_html(request.headers.get("accept")):
        raise exc  # as if no handler existed: the framework's 500 page
    return _response(problem.for_exception(exc, instance=request.url.path))


async def _http_exception_handler(request: Request, exc: Exception) -> Response:
    status = int(getattr(exc, "status_code", 500))
    code = problem.web_code(status)
    if status >= problem.SERVER_ERROR:
        answer = problem.for_exception(exc, instance=request.url.path, status=status, code=code)
    else:
        answer = problem.build(
            get_recorder().classifier.resolve(code), instance=request.url.path, status=status
        )
    detail = getattr(exc, "detail", None)
    if isinstance(detail, str) and detail:
        answer.body["detail"] = detail
    return _response(answer, dict(getattr(exc, "headers", None) or {}))


async def _validation_error_handler(request: Request, exc: Exception) -> Response:
    errors_of: Callable[[], list[dict[str, Any]]] = getattr(exc, "errors", list)
    errors = [
        problem.field_error(e.get("loc", ()), e.get("msg", ""), e.get("type"))
        for e in errors_of()
        if isinstance(e, dict)
    ]
    answer = problem.for_exception(exc, instance=request.url.path, code="WEB-422", errors=errors)
    return _response(answer)


def _error_response(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    try:
        request, exc = args
        if get_recorder().was_recorded(exc):  # by the server span, which has ended
            return _error_answer(wrapped, request, exc)
        with own_span_if_none():  # carries the trace id into a problem response
            record_error(exc, handled=False)
            return _error_answer(wrapped, request, exc)
    except Exception as failure:
        report_internal_failure("starlette.error_response", failure)
    return wrapped(*args, **kwargs)


def _error_answer(wrapped: Any, request: Request, exc: BaseException) -> Any:
    if get_recorder().settings.propagate_errors:
        request.scope[_FAILURE_KEY] = exc  # for send_with_id: ``Otel-Errors-*`` headers
    if problem.wanted(exc) and not problem.prefers_html(request.headers.get("accept")):
        status = problem.unhandled_status(exc)
        return _response(problem.for_exception(exc, instance=request.url.path, status=status))
    return wrapped(request, exc)


def _server_error_call(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Awaitable[None]:
    try:
        scope, receive, send = args
        if scope.get("type") != "http":
            return wrapped(*args, **kwargs)  # type: ignore[no-any-return]
        return _with_request_id(wrapped, scope, receive, send)
    except Exception as failure:
        report_internal_failure("starlette.request_id", failure)
        return wrapped(*args, **kwargs)  # type: ignore[no-any-return]


async def _with_request_id(
    wrapped: Callable[..., Awaitable[None]],
    scope: MutableMapping[str, Any],
    receive: Any,
    send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
) -> None:
    header = get_recorder().settings.request_id_header.encode("latin-1")
    # An inner ServerErrorMiddleware of the same request (contrib FastAPI adds one
    # inside its span) reuses the id and now finds the server span to annotate.
    outermost = _SCOPE_KEY not in scope
    if server_metrics.contrib_is_active():
        scope[_CONTRIB_KEY] = True
    incoming = scope.get(_SCOPE_KEY) or next(
        (v for k, v in scope.get("headers") or () if k.lower() == header), None
    )
    scope[_SCOPE_KEY], token = request_id.begin(incoming)
    value = scope[_SCOPE_KEY].encode("latin-1")
    started = time.perf_counter()
    status = [problem.SERVER_ERROR]

    echo = get_recorder().settings.request_id_echo

    async def send_with_id(message: MutableMapping[str, Any]) -> None:
        if message.get("type") == "http.response.start":
            status[0] = int(message.get("status", problem.SERVER_ERROR))
            headers = list(message.get("headers") or ())
            added = False
            if echo and not any(k.lower() == header for k, _ in headers):
                headers.append((header, value))
                added = True
            failure = scope.get(_FAILURE_KEY)
            if failure is not None:
                added = _add_failure_headers(headers, failure, status[0]) or added
            if added:
                message = {**message, "headers": headers}
        await send(message)

    try:
        with request_scope():
            await wrapped(scope, receive, send_with_id)
    finally:
        request_id.end(token)
        if outermost and not scope.get(_CONTRIB_KEY):
            _count_request(scope, status[0], time.perf_counter() - started)


def _add_failure_headers(headers: list[Any], failure: BaseException, status: int) -> bool:
    """Appends the ``Otel-Errors-*`` headers the response lacks; whether any was added."""
    try:
        present = {bytes(k).lower() for k, _ in headers}
        count = len(headers)
        for name, value in problem.failure_headers(failure, status).items():
            if name.lower().encode("latin-1") not in present:
                headers.append((name.lower().encode("latin-1"), value.encode("latin-1")))
        return len(headers) > count
    except Exception as error:
        report_internal_failure("starlette.failure_headers", error)
        return False


def _count_request(scope: MutableMapping[str, Any], status: int, duration: float) -> None:
    try:
        route = getattr(scope.get("route"), "path", None)
        server_metrics.record_request(route, str(scope.get("method", "")), status, duration)
    except Exception as failure:
        report_internal_failure("starlette.request_metrics", failure)


_PATCHES = ImportPatches(
    "starlette",
    Patch(
        "starlette.middleware.exceptions",
        "ExceptionMiddleware.__init__",
        _exception_middleware_init,
    ),
    Patch("starlette.middleware.errors", "ServerErrorMiddleware.__call__", _server_error_call),
    Patch("starlette.middleware.errors", "ServerErrorMiddleware.error_response", _error_response),
)


class StarletteErrorsInstrumentor(PatchingInstrumentor):
    """Problem details, request ids and recorded validation errors for Starlette and FastAPI."""

    requirements = ("starlette >= 0.27",)
    """Starlette 0.27 or newer (FastAPI builds on it)."""
    patches = _PATCHES
