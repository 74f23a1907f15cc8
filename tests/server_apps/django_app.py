"""A Django project in one module, served as WSGI by gunicorn.

Its settings are ``django_settings`` (``DJANGO_SETTINGS_MODULE``), as in a real project:
the contrib instrumentation reads them before this module is imported.
"""

from __future__ import annotations

import logging

from django.core.wsgi import get_wsgi_application
from django.http import HttpRequest, HttpResponse
from django.urls import path

log = logging.getLogger("server_apps.views")


def health(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


def fail(request: HttpRequest) -> HttpResponse:
    return HttpResponse(str(1 // 0))


def logged(request: HttpRequest) -> HttpResponse:
    try:
        return HttpResponse(str(1 // 0))
    except ZeroDivisionError:
        log.exception("division failed")
        raise


def handled(request: HttpRequest) -> HttpResponse:
    try:
        return HttpResponse(str(1 // 0))
    except ZeroDivisionError:
        log.exception("division failed, answering anyway")
        return HttpResponse("fallback")


urlpatterns = [
    path("health", health),
    path("fail", fail),
    path("logged", logged),
    path("handled", handled),
]

application = get_wsgi_application()
