"""WSGI applications: Flask, and a bare WSGI callable whose errors only gunicorn sees."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from flask import Flask

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

log = logging.getLogger("server_apps.views")

flask_app = Flask("server_apps")


@flask_app.get("/health")
def health() -> str:
    return "ok"


@flask_app.get("/fail")
def fail() -> str:
    return str(1 // 0)


@flask_app.get("/logged")
def logged() -> str:
    try:
        return str(1 // 0)
    except ZeroDivisionError:
        log.exception("division failed")
        raise


@flask_app.get("/handled")
def handled() -> str:
    try:
        return str(1 // 0)
    except ZeroDivisionError:
        log.exception("division failed, answering anyway")
        return "fallback"


def raw_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """A WSGI application without a framework: gunicorn answers what escapes it."""
    path = environ.get("PATH_INFO", "")
    if path == "/fail":
        1 // 0  # noqa: B018 - the failure under test
    if path in ("/logged", "/handled"):
        try:
            1 // 0  # noqa: B018 - the failure under test
        except ZeroDivisionError:
            log.exception("division failed")
            if path == "/logged":
                raise
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
