"""Starlette and FastAPI: problem-details responses, request ids, validation errors.

Where we hook, and why there: the contrib FastAPI instrumentation rebuilds the
middleware stack (``build_middleware_stack``) and puts its own middleware inside a
``ServerErrorMiddleware``; we must not wrap what it wraps. Starlette's two error
middlewares are stable extension points that exist with and without contrib:

- ``ExceptionMiddleware.__init__``: after it ran, our handlers are added for
  ``AppError`` (unless the application has its own), and replace the *default*
  handlers of ``HTTPException`` and FastAPI's ``RequestValidationError`` (an
  application's own handlers are left alone);
- ``ServerErrorMiddleware.error_response``: the default answer to an unhandled
  exception (only used when the application has no 500 handler and debug is off)
  becomes a problem response; the exception is recorded there, inside the server
  span, so the contrib middleware that sees it next does not record it again;
- ``ServerErrorMiddleware.__call__``: the outermost layer of every Starlette app
  resolves the request id, puts it on the span and in a context variable, and
  echoes it in the response headers; without contrib it also records the request
  on ``http.server.request.duration`` (see ``server_metrics``).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
    BaseInstrumentor,
)
from opentelemetry.instrumentation.utils import unwrap
from wrapt import wrap_function_wrapper

from otel_errors._internal import problem, request_id, server_metrics
from otel_errors._internal.active import get_recorder
from otel_errors._internal.app_error import AppError
from otel_errors._internal.fail_open import report_internal_failure

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Collection, MutableMapping

    from starlette.requests import Request
    from starlette.responses import Response

_SCOPE_KEY = "otel_errors.request_id"
_CONTRIB_KEY = "otel_errors.contrib_server_span"
_PATCHES = (
    ("starlette.middleware.exceptions", "ExceptionMiddleware", "__init__"),
    ("starlette.middleware.errors", "ServerErrorMiddleware", "__call__"),
    ("starlette.middleware.errors", "ServerErrorMiddleware", "error_response"),
)


class StarletteErrorsInstrumentor(BaseInstrumentor):  # type: ignore[misc]  # untyped base
    """Problem details, request ids and recorded validation errors for Starlette and FastAPI."""

    def instrumentation_dependencies(self) -> Collection[str]:
        """Starlette 0.27 or newer (FastAPI builds on it)."""
        return ("starlette >= 0.27",)

    def _instrument(self, **kwargs: Any) -> None:
        wrappers = (_exception_middleware_init, _server_error_call, _error_response)
        for (module, cls, method), wrapper in zip(_PATCHES, wrappers, strict=True):
            wrap_function_wrapper(module, f"{cls}.{method}", wrapper)

    def _uninstrument(self, **kwargs: Any) -> None:
        import importlib

        for module, cls, method in _PATCHES:
            unwrap(getattr(importlib.import_module(module), cls), method)


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
        if get_recorder().settings.problem_details:
            _install_handlers(instance)
    except Exception as failure:
        report_internal_failure("starlette.handlers", failure)


def _install_handlers(middleware: Any) -> None:
    from starlette.exceptions import HTTPException

    handlers: dict[Any, Any] = middleware._exception_handlers
    defaults: list[Any] = [getattr(middleware, "http_exception", None)]
    if AppError not in handlers:
        handlers[AppError] = _app_error_handler
    try:
        from fastapi import exception_handlers as fastapi_handlers
        from fastapi.exceptions import RequestValidationError
    except ImportError:  # plain Starlette
        pass
    else:
        defaults.append(fastapi_handlers.http_exception_handler)
        default = fastapi_handlers.request_validation_exception_handler
        if _is_default(handlers.get(RequestValidationError), [default]):
            handlers[RequestValidationError] = _validation_error_handler
    if _is_default(handlers.get(HTTPException), defaults):
        handlers[HTTPException] = _http_exception_handler


def _is_default(handler: Any, defaults: list[Any]) -> bool:
    return handler is None or any(handler == d for d in defaults if d is not None)


async def _app_error_handler(request: Request, exc: Exception) -> Response:
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
        if get_recorder().settings.problem_details:
            request, exc = args
            return _response(problem.for_exception(exc, instance=request.url.path))
    except Exception as failure:
        report_internal_failure("starlette.error_response", failure)
    return wrapped(*args, **kwargs)


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

    async def send_with_id(message: MutableMapping[str, Any]) -> None:
        if message.get("type") == "http.response.start":
            status[0] = int(message.get("status", problem.SERVER_ERROR))
            headers = list(message.get("headers") or ())
            if not any(k.lower() == header for k, _ in headers):
                message = {**message, "headers": [*headers, (header, value)]}
        await send(message)

    try:
        await wrapped(scope, receive, send_with_id)
    finally:
        request_id.end(token)
        if outermost and not scope.get(_CONTRIB_KEY):
            _count_request(scope, status[0], time.perf_counter() - started)


def _count_request(scope: MutableMapping[str, Any], status: int, duration: float) -> None:
    try:
        route = getattr(scope.get("route"), "path", None)
        server_metrics.record_request(route, str(scope.get("method", "")), status, duration)
    except Exception as failure:
        report_internal_failure("starlette.request_metrics", failure)
