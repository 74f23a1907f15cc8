"""Django: unhandled errors recorded as unhandled, problem details on request, request ids.

Django's extension point for this is a middleware. Contrib inserts its middleware
into ``settings.MIDDLEWARE`` when it instruments, which forces Django settings to
be configured at that moment (contrib even calls ``settings.configure()`` when they
are not). We insert ours later and lazily: ``BaseHandler.load_middleware`` (run when
a WSGI/ASGI handler starts, settings loaded by then) is wrapped to add our
middleware right inside contrib's, so the server span is current in our code, or
first in the list without contrib.

Its ``__call__`` opens a request scope (see ``handling.begin_request``), so that without
a server span an exception the view logged and then let escape is recorded once, as
unhandled.

``process_exception`` runs after every middleware of the application's (they sit
inside ours), so an exception that reaches it is one nobody handled:

- ``Http404``, ``PermissionDenied``, ``MultiPartParserError``, ``BadRequest`` and
  ``SuspiciousOperation`` are the application's normal answers: Django's own response
  (``response_for_exception``, what Django would answer a moment later) is returned
  from here, so that contrib's
  middleware does not record them as failures; with ``OTEL_ERRORS_PROBLEM_DETAILS=all``
  clients that prefer JSON get a ``WEB-4xx`` problem instead.
- Anything else is recorded as unhandled, before Django logs it on ``django.request``,
  and answered by Django (its 500 page, or the debug page), except an ``AppError``
  (or, with ``all``, any exception) for a client that does not prefer HTML, which gets
  a problem response. ``DEBUG`` always keeps Django's debug pages.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any

from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
    BaseInstrumentor,
)

from otel_errors._internal.helpers.fail_open import report_internal_failure
from otel_errors._internal.recording import request_id
from otel_errors._internal.recording.handling import own_span_if_none, record_error, request_scope
from otel_errors._internal.recording.patching import ImportPatches, Patch
from otel_errors._internal.recording.runtime import get_recorder
from otel_errors.integrations import _problem as problem
from otel_errors.integrations import _server_metrics as server_metrics

if TYPE_CHECKING:
    from collections.abc import Callable, Collection

    from django.http import HttpRequest, HttpResponse

MIDDLEWARE = f"{__name__}.ProblemDetailsMiddleware"
_FAILURE = "_otel_errors_failure"
_CONTRIB_MIDDLEWARE = "opentelemetry.instrumentation.django.middleware.otel_middleware"


class DjangoErrorsInstrumentor(BaseInstrumentor):  # type: ignore[misc]  # untyped base
    """Problem details and request ids for Django."""

    def instrumentation_dependencies(self) -> Collection[str]:
        """Django 4.2 or newer."""
        return ("django >= 4.2",)

    def _instrument(self, **kwargs: Any) -> None:
        _PATCHES.apply()

    def _uninstrument(self, **kwargs: Any) -> None:
        _PATCHES.remove()
        if "django.conf" not in sys.modules:
            return
        from django.conf import settings

        if not settings.configured:
            return
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
            with request_scope():
                response = self.get_response(request)
            return self._finish(request, response, header, started)
        finally:
            _end(token)

    async def _acall(self, request: HttpRequest) -> Any:
        header, token = self._begin(request)
        started = None if server_metrics.contrib_is_active() else time.perf_counter()
        try:
            with request_scope():
                response = await self.get_response(request)
            return self._finish(request, response, header, started)
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
        _add_failure_headers(request, response)
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
            echo = get_recorder().settings.request_id_echo
            if rid and echo and not response.has_header(header):
                response[header] = rid
        except Exception as failure:
            report_internal_failure("django.request_id", failure)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        """A problem response, or None to let Django (and its debug page) answer."""
        try:
            if get_recorder().settings.propagate_errors:
                setattr(request, _FAILURE, exception)
            return _answer(request, exception)
        except Exception as failure:
            report_internal_failure("django.problem", failure)
            return None


def _add_failure_headers(request: HttpRequest, response: HttpResponse) -> None:
    """``Otel-Errors-*`` headers for the failure ``process_exception`` saw, if any."""
    failure = getattr(request, _FAILURE, None)
    if failure is None:
        return
    try:
        for name, value in problem.failure_headers(failure, response.status_code).items():
            if not response.has_header(name):
                response[name] = value
    except Exception as error:
        report_internal_failure("django.failure_headers", error)


def _end(token: Any) -> None:
    if token is not None:
        request_id.end(token)


def _answer(request: HttpRequest, exception: Exception) -> HttpResponse | None:
    from django.conf import settings
    from django.core.exceptions import BadRequest, PermissionDenied, SuspiciousOperation
    from django.core.handlers.exception import response_for_exception
    from django.http import Http404
    from django.http.multipartparser import MultiPartParserError

    client_errors = {  # what response_for_exception answers below 500
        Http404: 404,
        PermissionDenied: 403,
        MultiPartParserError: 400,
        BadRequest: 400,
        SuspiciousOperation: 400,
    }
    status = next((s for cls, s in client_errors.items() if isinstance(exception, cls)), None)
    answer = (
        not settings.DEBUG
        and problem.wanted(exception)
        and not problem.prefers_html(request.headers.get("accept"))
    )
    if status is not None:
        if settings.DEBUG:
            return None
        if not answer:
            return response_for_exception(request, exception)  # type: ignore[no-any-return,unused-ignore]
        entry = get_recorder().classifier.resolve(problem.web_code(status))
        return _response(problem.build(entry, instance=request.path, status=status))
    with own_span_if_none():  # without a server span: the problem carries its trace id
        record_error(exception, handled=False)
        if not answer:
            return None
        status = problem.unhandled_status(exception)
        return _response(problem.for_exception(exception, instance=request.path, status=status))


def _response(answer: problem.Problem) -> HttpResponse:
    from django.http import HttpResponse

    headers = dict(answer.headers)
    content_type = headers.pop("content-type", problem.CONTENT_TYPE)
    response = HttpResponse(answer.json_bytes(), status=answer.status, content_type=content_type)
    for name, value in headers.items():
        response[name] = value
    return response


_PATCHES = ImportPatches(
    "django",
    Patch("django.core.handlers.base", "BaseHandler.load_middleware", _load_middleware),
)
