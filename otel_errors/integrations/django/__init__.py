"""Django: its client errors by class, and ``django.request``'s log of a 500."""

from __future__ import annotations

from otel_errors._internal.model.unit import Unit

UNIT = Unit(
    exceptions={
        "django.core.exceptions.BadRequest": "WEB-400",
        "django.core.exceptions.SuspiciousOperation": "WEB-400",
        "django.core.exceptions.PermissionDenied": "WEB-403",
        "django.http.response.Http404": "WEB-404",
    },
    server_loggers=("django.request",),  # "Internal Server Error"; 4xx are at WARNING
    # DEFAULT_LOGGING: runserver's request lines, not propagating.
    framework_log_handlers=(("django.server", "django.utils.log.ServerFormatter"),),
)
