"""Django: problem-details responses and request ids, with or without contrib's instrumentation.

Django's extension point for this is a middleware. Contrib inserts its middleware
into ``settings.MIDDLEWARE`` when it instruments, which forces Django settings to
be configured at that moment (contrib even calls ``settings.configure()`` when they
are not). We insert ours later and lazily: ``BaseHandler.load_middleware`` (run when
a WSGI/ASGI handler starts, settings loaded by then) is wrapped to add our
middleware right inside contrib's, so the server span is current in our code, or
first in the list without contrib.

The middleware answers exceptions from ``process_exception`` (when ``DEBUG`` is
off, Django's debug page stays otherwise): ``AppError`` and unhandled exceptions
get a problem response and are recorded (handled below 500); ``Http404``,
``PermissionDenied``, ``BadRequest`` and ``SuspiciousOperation`` get ``WEB-404``,
``WEB-403`` and ``WEB-400`` problems for clients that prefer JSON and Django's own
pages for the others, without an event (they are the application's normal
answers). Returning a response there also stops contrib's middleware from
recording the exception (a second time, or at all for those client errors).
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
from otel_errors._internal.fail_open import report_internal_failure

if TYPE_CHECKING:
    from collections.abc import Callable, Collection

    from django.http import HttpRequest, HttpResponse

MIDDLEWARE = f"{__name__}.ProblemDetailsMiddleware"
_CONTRIB_MIDDLEWARE = "opentelemetry.instrumentation.django.middleware.otel_middleware"


class DjangoErrorsInstrumentor(BaseInstrumentor):  # type: ignore[misc]  # untyped base
    """Problem details and request ids for Django."""

    def instrumentation_dependencies(self) -> Collection[str]:
        """Django 4.2 or newer."""
        return ("django >= 4.2",)

    def _instrument(self, **kwargs: Any) -> None:
        wrap_function_wrapper(
            "django.core.handlers.base", "BaseHandler.load_middleware", _load_middleware
        )

    def _uninstrument(self, **kwargs: Any) -> None:
        from django.conf import settings
        from django.core.handlers import base

        unwrap(base.BaseHandler, "load_middleware")
        middleware = list(getattr(settings, "MIDDLEWARE", None) or ())
        if MIDDLEWARE in middleware:
            middleware.remove(MIDDLEWARE)
            settings.MIDDLEWARE = middleware


def _load_middleware(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    try:
        _insert_middleware()
    except Exception as failure:
        report_internal_failure("django.middleware", failure)
    return wrapped(*args, **kwargs)


def _insert_middleware() -> None:
    from django.conf import settings

    middleware = list(getattr(settings, "MIDDLEWARE", None) or ())
    if MIDDLEWARE in middleware:
        return
    contrib = [i for i, name in enumerate(middleware) if name.startswith(_CONTRIB_MIDDLEWARE)]
    middleware.insert(contrib[0] + 1 if contrib else 0, MIDDLEWARE)
    settings.MIDDLEWARE = middleware


class ProblemDetailsMiddleware:
    """Request ids in and out, and problem responses for exceptions.

    Args:
        get_response: The next layer, sync or async (Django adapts to both).
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        """Wraps the next layer."""
        from asgiref.sync import iscoroutinefunction, markcoroutinefunction

        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        """Resolves the request id around the next layer."""
        if self.is_async:
            return self._acall(request)
        header, token = self._begin(request)
        started = None if server_metrics.contrib_is_active() else time.perf_counter()
        try:
            return self._finish(request, self.get_response(request), header, started)
        finally:
            _end(token)

    async def _acall(self, request: HttpRequest) -> Any:
        header, token = self._begin(request)
        started = None if server_metrics.contrib_is_active() else time.perf_counter()
        try:
            return self._finish(request, await self.get_response(request), header, started)
        finally:
            _end(token)

    def _finish(
        self, request: HttpRequest, response: HttpResponse, header: str, started: float | None
    ) -> HttpResponse:
        if started is not None:
            try:
                route = getattr(getattr(request, "resolver_match", None), "route", None)
                server_metrics.record_request(
                    route, request.method or "", response.status_code, time.perf_counter() - started
                )
            except Exception as failure:
                report_internal_failure("django.request_metrics", failure)
        return self._echo(response, header)

    @staticmethod
    def _begin(request: HttpRequest) -> tuple[str, Any]:
        header = get_recorder().settings.request_id_header
        try:
            return header, request_id.begin(request.headers.get(header))[1]
        except Exception as failure:
            report_internal_failure("django.request_id", failure)
            return header, None

    @staticmethod
    def _echo(response: HttpResponse, header: str) -> HttpResponse:
        rid = request_id.current_request_id.get()
        try:
            if rid and not response.has_header(header):
                response[header] = rid
        except Exception as failure:
            report_internal_failure("django.request_id", failure)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        """A problem response, or None to let Django (and its debug page) answer."""
        try:
            return _answer(request, exception)
        except Exception as failure:
            report_internal_failure("django.problem", failure)
            return None


def _end(token: Any) -> None:
    if token is not None:
        request_id.end(token)


def _answer(request: HttpRequest, exception: Exception) -> HttpResponse | None:
    from django.conf import settings
    from django.core.exceptions import BadRequest, PermissionDenied, SuspiciousOperation
    from django.http import Http404

    if settings.DEBUG or not get_recorder().settings.problem_details:
        return None
    client_errors = {Http404: 404, PermissionDenied: 403, BadRequest: 400, SuspiciousOperation: 400}
    status = next((s for cls, s in client_errors.items() if isinstance(exception, cls)), None)
    if status is not None:
        if not _prefers_json(request):
            # Django's own answer, returned from here so that contrib's middleware does
            # not record the application's normal 404 as a failure.
            from django.core.handlers.exception import response_for_exception

            return response_for_exception(request, exception)  # type: ignore[no-any-return,unused-ignore]
        entry = get_recorder().classifier.resolve(problem.web_code(status))
        return _response(problem.build(entry, instance=request.path, status=status))
    return _response(problem.for_exception(exception, instance=request.path))


def _prefers_json(request: HttpRequest) -> bool:
    accept = request.headers.get("accept", "")
    return not accept or "json" in accept or ("*/*" in accept and "text/html" not in accept)


def _response(answer: problem.Problem) -> HttpResponse:
    from django.http import HttpResponse

    headers = dict(answer.headers)
    content_type = headers.pop("content-type", problem.CONTENT_TYPE)
    response = HttpResponse(answer.json_bytes(), status=answer.status, content_type=content_type)
    for name, value in headers.items():
        response[name] = value
    return response
