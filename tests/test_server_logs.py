"""A server's own loggers with structured logs on: one JSON-lines format, correlated, redacted.

uvicorn configures ``uvicorn`` and ``uvicorn.access`` with console handlers of its
own that do not propagate to the root logger. With ``OTEL_ERRORS_LOG_CONSOLE_JSON``
on, their lines (the traceback of an exception the application let escape among
them) must come out as the same JSON lines as the application's, with the trace id
and redacted, and reach the local ``logs.jsonl``; with it off (the default), or with
a logging configuration of the application's, the console is exactly uvicorn's.
A real uvicorn process under ``opentelemetry-instrument``, FastAPI instrumented by
contrib; then gunicorn with Flask, and Django's development server (its
``django.server`` logger does not propagate either).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
SECRET = "hunter2"  # noqa: S105 - the secret that must not come out
APP = f"""
import logging
from fastapi import FastAPI

app = FastAPI()
log = logging.getLogger("shop.views")


@app.get("/ok")
def ok():
    log.info("all good")
    return {{"ok": True}}


@app.get("/boom")
def boom():
    log.warning("charging with password={SECRET}")
    raise RuntimeError("gateway refused password={SECRET}")
"""
LOG_CONFIG = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"mine": {"format": "MINE %(levelname)s %(name)s %(message)s"}},
    "handlers": {"out": {"class": "logging.StreamHandler", "formatter": "mine"}},
    "loggers": {
        "uvicorn": {"handlers": ["out"], "level": "INFO", "propagate": False},
        "uvicorn.access": {"handlers": ["out"], "level": "INFO", "propagate": False},
    },
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _serve(tmp_path: Path, extra_env: dict[str, str], *args: str) -> tuple[list[str], Path]:
    """Runs uvicorn, requests /ok and /boom, stops it; returns its console lines and data dir."""
    (tmp_path / "shopapp.py").write_text(APP)
    data = tmp_path / "data"
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PYTHON"))}
    env.update(
        OTEL_SERVICE_NAME="shop",
        OTEL_ERRORS_LOCAL_DIR=str(data),
        OTEL_BLRP_SCHEDULE_DELAY="100",
        OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="requests,urllib3,httpx,aiohttp-client",
        **extra_env,
    )
    command = [str(BIN / "opentelemetry-instrument"), str(BIN / "uvicorn"), "shopapp:app",
               "--host", "127.0.0.1", "--port", str(port), *args]  # fmt: skip
    server = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ok", timeout=2) as ok:
                    ok.read()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.2)
        with pytest.raises(urllib.error.HTTPError) as failed:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/boom", timeout=5)
        failed.value.close()
        assert failed.value.code == 500
    finally:
        server.send_signal(signal.SIGTERM)
        out, _ = server.communicate(timeout=30)
    return [line for line in out.splitlines() if line.strip()], data


def _announcement(line: str) -> bool:
    return line.startswith("otel_errors: no collector configured")


def test_json_console_puts_uvicorn_in_the_same_format(tmp_path):
    """Every console line is a JSON record; the escaped exception is correlated and redacted."""
    lines, data = _serve(tmp_path, {"OTEL_ERRORS_LOG_CONSOLE_JSON": "true"})
    records = [json.loads(line) for line in lines if not _announcement(line)]  # all JSON
    components = {r["component"] for r in records}
    assert {"uvicorn.error", "uvicorn.access", "shop.views"} <= components
    (escaped,) = [r for r in records if r["message"].startswith("Exception in ASGI application")]
    assert escaped["log_level"] == "ERROR"
    assert escaped["error_code"]
    assert "RuntimeError" in escaped["stack_trace"]
    assert len(escaped["trace_id"] or "") == 32, "correlated with the request's span"
    access = [r for r in records if r["component"] == "uvicorn.access"]
    assert any('"GET /boom HTTP/1.1" 500' in r["message"] for r in access)
    assert SECRET not in "\n".join(lines)

    exported = [json.loads(line) for line in (data / "logs.jsonl").read_text().splitlines()]
    (logged,) = [r for r in exported if str(r["body"]).startswith("Exception in ASGI application")]
    assert logged["trace_id"] == escaped["trace_id"]
    assert "RuntimeError" in logged["attributes"]["stack_trace"]
    assert any(r["scope"] == "uvicorn.access" for r in exported)
    assert SECRET not in (data / "logs.jsonl").read_text()


def test_default_console_is_uvicorns_own(tmp_path):
    """JSON console off (the default): uvicorn's plain text, as without otel_errors."""
    lines, data = _serve(tmp_path, {})
    assert "INFO:     Application startup complete." in lines
    assert "ERROR:    Exception in ASGI application" in lines
    assert "Traceback (most recent call last):" in lines
    assert not any(line.startswith("{") for line in lines)
    # the server's records still reach the local files, redacted
    exported = (data / "logs.jsonl").read_text()
    assert "Exception in ASGI application" in exported
    assert SECRET not in exported


def test_the_applications_log_config_wins(tmp_path):
    """Uvicorn's --log-config with a formatter of the application's: kept, JSON on or not."""
    config = tmp_path / "logging.json"
    config.write_text(json.dumps(LOG_CONFIG))
    lines, _ = _serve(
        tmp_path, {"OTEL_ERRORS_LOG_CONSOLE_JSON": "true"}, "--log-config", str(config)
    )
    assert "MINE INFO uvicorn.error Application startup complete." in lines
    assert "MINE ERROR uvicorn.error Exception in ASGI application" in lines
    assert any(line.startswith("MINE INFO uvicorn.access") for line in lines)


WSGI_APP = f"""
import logging
from flask import Flask

flask_app = Flask("shopflask")


@flask_app.get("/boom")
def boom():
    logging.getLogger("shop.views").warning("charging with password={SECRET}")
    raise RuntimeError("gateway refused password={SECRET}")


def app(environ, start_response):
    if environ["PATH_INFO"] == "/bare":  # a bare WSGI callable: gunicorn logs the escape
        raise ValueError("bare failure password={SECRET}")
    return flask_app(environ, start_response)
"""


def _status(url: str) -> int | None:
    """The HTTP status of a GET, or None when nothing answers (yet)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 - http://127.0.0.1
            return int(answer.status)
    except urllib.error.HTTPError as answer:
        answer.close()
        return int(answer.code)
    except OSError:
        return None


def _gunicorn(
    tmp_path: Path, extra_env: dict[str, str], *, launcher: bool = True
) -> tuple[list[str], Path]:
    """Gunicorn (one sync worker) serving Flask and a bare WSGI callable; /boom, /bare."""
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "wsgishop.py").write_text(WSGI_APP)
    data = tmp_path / "data"
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PYTHON"))}
    env.update(OTEL_SERVICE_NAME="shop", OTEL_ERRORS_LOCAL_DIR=str(data), **extra_env)
    command = [*([str(BIN / "opentelemetry-instrument")] if launcher else []),
               str(BIN / "gunicorn"), "-w", "1", "--control-socket", str(tmp_path / "ctl"),
               "-b", f"127.0.0.1:{port}", "--access-logfile", "-", "wsgishop:app"]  # fmt: skip
    server = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 30
        while (status := _status(f"http://127.0.0.1:{port}/boom")) is None:
            assert time.monotonic() < deadline, "gunicorn did not answer"
            assert server.poll() is None, "gunicorn exited"
            time.sleep(0.2)
        assert status == 500
        with pytest.raises(urllib.error.HTTPError) as failed:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/bare", timeout=5)
        failed.value.close()
    finally:
        server.send_signal(signal.SIGTERM)
        out, _ = server.communicate(timeout=30)
    return [line for line in out.splitlines() if line.strip()], data


def test_json_console_puts_gunicorn_and_flask_in_the_same_format(tmp_path):
    """Gunicorn's own loggers and Flask's app logger: JSON lines, redacted, and exported."""
    lines, data = _gunicorn(tmp_path, {"OTEL_ERRORS_LOG_CONSOLE_JSON": "true"})
    records = [json.loads(line) for line in lines if not _announcement(line)]  # all JSON
    components = {r["component"] for r in records}
    assert {"gunicorn.error", "gunicorn.access", "shopflask", "shop.views"} <= components
    (flask_error,) = [r for r in records if r["component"] == "shopflask"]
    assert flask_error["message"] == "Exception on /boom [GET]"
    assert "RuntimeError" in flask_error["stack_trace"]
    assert len(flask_error["trace_id"] or "") == 32
    (bare,) = [r for r in records if r["message"].startswith("Error handling request")]
    assert bare["component"] == "gunicorn.error"
    assert "ValueError" in bare["stack_trace"]
    assert SECRET not in "\n".join(lines)
    exported = (data / "logs.jsonl").read_text()
    assert '"scope":"gunicorn.error"' in exported
    assert "Error handling request" in exported
    assert SECRET not in exported


def _shape(lines: list[str]) -> list[str]:
    """The console's lines without times, pids, ports and traceback frames."""
    shaped = []
    for line in lines:
        if line.startswith(" ") or _announcement(line) or "Control socket" in line:
            continue
        timeless = re.sub(r"\[[0-9-]+ [0-9:,]+( \+0000)?\]", "[time]", line)
        timeless = re.sub(r"\d{2}/\w{3}/\d{4}:[0-9:]+ \+0000", "time", timeless)
        shaped.append(re.sub(r"\b\d{2,6}\b", "N", timeless))
    return sorted(shaped)  # master and worker write concurrently


def test_default_console_is_gunicorns_and_flasks_own(tmp_path):
    """JSON console off: the console is line for line what it is without otel_errors."""
    ours, _ = _gunicorn(tmp_path / "ours", {})
    vanilla, _ = _gunicorn(tmp_path / "vanilla", {}, launcher=False)
    assert any("ERROR in app: Exception on /boom [GET]" in line for line in ours)
    assert any("[ERROR] Error handling request GET /bare" in line for line in ours)
    assert _shape(ours) == _shape(vanilla)


DJANGO_APP = f"""
import logging

from django.http import HttpResponse
from django.urls import path

DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]
SECRET_KEY = "not-a-secret-test-key"
ROOT_URLCONF = "djshop"
MIDDLEWARE = []
INSTALLED_APPS = []
DATABASES = {{}}


def ok(request):
    return HttpResponse("ok")


def boom(request):
    logging.getLogger("shop.views").warning("charging with password={SECRET}")
    raise RuntimeError("gateway refused password={SECRET}")


urlpatterns = [path("ok", ok), path("boom", boom)]
"""


def _runserver(tmp_path: Path, extra_env: dict[str, str]) -> tuple[list[str], Path]:
    """Django's development server under the launcher; /ok and /boom; its console lines."""
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "djshop.py").write_text(DJANGO_APP)
    data = tmp_path / "data"
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PYTHON", "DJANGO"))}
    env.update(OTEL_SERVICE_NAME="shop", OTEL_ERRORS_LOCAL_DIR=str(data),
               OTEL_BLRP_SCHEDULE_DELAY="100", DJANGO_SETTINGS_MODULE="djshop",
               PYTHONPATH=str(tmp_path), PYTHONUNBUFFERED="1", **extra_env)  # fmt: skip
    command = [str(BIN / "opentelemetry-instrument"), str(BIN / "python"), "-m", "django",
               "runserver", "--noreload", "--nothreading", f"127.0.0.1:{port}"]  # fmt: skip
    server = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 30
        while _status(f"http://127.0.0.1:{port}/ok") != 200:
            assert time.monotonic() < deadline, "runserver did not answer"
            assert server.poll() is None, "runserver exited"
            time.sleep(0.2)
        assert _status(f"http://127.0.0.1:{port}/boom") == 500
        # The server logs a request after answering it: one more request (served after
        # that log, --nothreading) keeps SIGTERM from cutting the /boom line off.
        assert _status(f"http://127.0.0.1:{port}/ok") == 200
    finally:
        server.send_signal(signal.SIGTERM)
        out, _ = server.communicate(timeout=30)
    return [line for line in out.splitlines() if line.strip()], data


def test_json_console_puts_djangos_server_log_in_the_same_format(tmp_path):
    """``django.server`` (no propagation, a formatter of its own): JSON lines, and exported."""
    lines, data = _runserver(tmp_path, {"OTEL_ERRORS_LOG_CONSOLE_JSON": "true"})
    records = [json.loads(line) for line in lines if line.startswith("{")]
    served = [r for r in records if r["component"] == "django.server"]
    assert any('"GET /boom HTTP/1.1" 500' in r["message"] for r in served), lines
    assert any('"GET /ok HTTP/1.1" 200' in r["message"] for r in served), lines
    assert not [
        line for line in lines if '"GET /boom HTTP/1.1" 500' in line and not line.startswith("{")
    ]
    assert SECRET not in "\n".join(lines)
    exported = (data / "logs.jsonl").read_text()
    assert '"scope":"django.server"' in exported
    assert SECRET not in exported


def test_default_console_is_djangos_own(tmp_path):
    """JSON console off: ``django.server`` prints Django's ``[time] "GET ..." status`` lines."""
    lines, data = _runserver(tmp_path, {})
    served = [line for line in lines if '"GET /boom HTTP/1.1" 500' in line]
    assert served, lines
    assert all(re.match(r"\[[^\]]+\] \"GET /boom HTTP/1.1\" 500 \d+$", line) for line in served)
    assert '"scope":"django.server"' in (data / "logs.jsonl").read_text()
