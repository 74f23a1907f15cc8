"""A framework's 500 is an unhandled error, whichever observer saw the exception first.

Servers and frameworks log an exception that escaped the application before they
answer (Flask's ``log_exception``, Django's ``django.request``, uvicorn's
``uvicorn.error``, gunicorn's ``gunicorn.error``, aiohttp's ``aiohttp.server``,
grpcio's ``grpc._server``), and applications log before re-raising. Each server here
runs for real under ``opentelemetry-instrument`` (with the contrib instrumentations
installed in this environment, or some switched off), serves ``/fail`` (escapes),
``/logged`` (logged, then raised again) and ``/handled`` (logged, then answered),
and is stopped with SIGTERM; the local files must then say unhandled for the first
two and handled for the third, in the exception events and in the ``errors`` counter
alike. Celery is covered in ``test_celery.py``.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from _e2e_processes import free_port, http_get, services, wait_for

APPS = Path(__file__).parent / "server_apps"
BIN = Path(sys.executable).parent
CODE = "BUG-005"  # ZeroDivisionError


@dataclass(frozen=True)
class Server:
    """How to start one server under the launcher."""

    argv: tuple[str, ...]
    """``{port}`` is replaced by the port."""
    disabled: str = ""
    """``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS``."""
    protocol: str = "http"
    request_boundary: bool = True
    """Whether a span or a framework integration marks where a request ends: without
    one (a bare WSGI callable, aiohttp and grpcio without their contrib
    instrumentation), an exception logged and raised again is counted when it is
    logged, as handled (README, "Handled or not")."""


GUNICORN = (str(BIN / "gunicorn"), "-w", "1", "-b", "127.0.0.1:{port}", "--graceful-timeout", "5")
UVICORN = (str(BIN / "uvicorn"), "--host", "127.0.0.1", "--port", "{port}")
SERVERS = {
    "flask-gunicorn-contrib": Server((*GUNICORN, "wsgi_apps:flask_app")),
    "flask-gunicorn-alone": Server((*GUNICORN, "wsgi_apps:flask_app"), disabled="flask"),
    "flask-gthread": Server((*GUNICORN, "-k", "gthread", "--threads", "2", "wsgi_apps:flask_app")),
    "wsgi-gunicorn": Server((*GUNICORN, "wsgi_apps:raw_app"), request_boundary=False),
    "django-gunicorn-contrib": Server((*GUNICORN, "django_app:application")),
    "django-gunicorn-alone": Server((*GUNICORN, "django_app:application"), disabled="django"),
    "fastapi-uvicorn-contrib": Server((*UVICORN, "asgi_apps:fastapi_app")),
    "starlette-uvicorn": Server((*UVICORN, "asgi_apps:starlette_app")),
    "aiohttp": Server((sys.executable, "aiohttp_app.py", "{port}"), request_boundary=False),
    "grpc-contrib": Server((sys.executable, "grpc_app.py", "{port}"), protocol="grpc"),
    "grpc-alone": Server(
        (sys.executable, "grpc_app.py", "{port}"),
        disabled="grpc_server",
        protocol="grpc",
        request_boundary=False,
    ),
}


def _environment(data: Path, disabled: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(
        OTEL_SERVICE_NAME="outcomes",
        OTEL_ERRORS_LOCAL_DIR=str(data),
        OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=disabled,
        OTEL_BSP_SCHEDULE_DELAY="200",
        PYTHONPATH=str(APPS),
        DJANGO_SETTINGS_MODULE="django_settings",
    )
    return env


def _call(server: Server, port: int, name: str) -> int:
    """Sends one request; returns the HTTP status or the gRPC status code's number."""
    if server.protocol == "http":
        return http_get(f"http://127.0.0.1:{port}/{name}", timeout=10)[0]
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        method = channel.unary_unary(f"/outcomes.Svc/{name.capitalize()}")
        try:
            method(b"", timeout=10)
        except grpc.RpcError as exc:
            return int(exc.code().value[0])
    return 0


def _lines(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _outcomes(data: Path) -> tuple[Counter[bool], Counter[bool]]:
    """Exception events and ``errors`` counts of BUG-005, by ``error.handled``."""
    events: Counter[bool] = Counter()
    for span in _lines(data / "spans.jsonl"):
        for event in span["events"]:
            if event["name"] == "exception" and event["attributes"]["error.code"] == CODE:
                events[event["attributes"]["error.handled"]] += 1
    latest: dict[tuple[str, str], dict] = {}
    for point in _lines(data / "metrics.jsonl"):
        if point["name"] == "errors" and point["attributes"].get("error.code") == CODE:
            process = point["resource"].get("service.instance.id", "")
            key = (process, json.dumps(point["attributes"], sort_keys=True))
            latest[key] = point  # cumulative: the last export of each series counts
    counts: Counter[bool] = Counter()
    for point in latest.values():
        counts[point["attributes"]["error.handled"]] += point["value"]
    return events, counts


@pytest.mark.parametrize("name", list(SERVERS))
def test_escaped_errors_are_unhandled_and_logged_ones_handled(tmp_path, name):
    """/fail and /logged count as unhandled, /handled as handled, in events and counter."""
    server = SERVERS[name]
    port = free_port()
    argv = [str(BIN / "opentelemetry-instrument"), *(a.format(port=port) for a in server.argv)]
    data = tmp_path / "data"
    with services(tmp_path) as started:
        service = started.start(name, argv, _environment(data, server.disabled), cwd=APPS)
        ready = 200 if server.protocol == "http" else 0
        wait_for(
            lambda: service.running() and _call(server, port, "health") == ready,
            f"{name} to answer",
            60,
            interval=0.2,
            details=service.log_tail,
        )
        statuses = {call: _call(server, port, call) for call in ("fail", "logged", "handled")}
        service.stop()
    failed = 2 if server.protocol == "grpc" else 500  # grpc UNKNOWN
    assert statuses == {"fail": failed, "logged": failed, "handled": 200 if failed == 500 else 0}
    expected = (2, 1) if server.request_boundary else (1, 2)
    events, counts = _outcomes(data)
    assert (events[False], events[True]) == expected, service.log_tail(60)
    assert (counts[False], counts[True]) == expected, service.log_tail(60)
