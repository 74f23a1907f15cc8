"""The applications the pre-fork server tests run: WSGI (Flask) and ASGI (FastAPI).

``/fail/<n>`` raises after marking its span with the worker's pid, ``/pid`` answers
the worker's pid. At import, which ``--preload`` does in the master before forking,
one start-up error is recorded: the master's own count, which no worker may re-export.
"""

from __future__ import annotations

import os

from fastapi import FastAPI
from flask import Flask
from opentelemetry import trace

import otel_errors

otel_errors.record_error(RuntimeError("cache warm-up failed"))


def _mark_worker() -> None:
    trace.get_current_span().set_attribute("worker.pid", os.getpid())


wsgi = Flask("prefork")


@wsgi.get("/fail/<int:number>")
def fail(number: int) -> str:
    _mark_worker()
    raise TimeoutError(f"dependency timed out ({number})")


@wsgi.get("/pid")
def pid() -> str:
    return str(os.getpid())


asgi = FastAPI()


@asgi.get("/fail/{number}")
async def async_fail(number: int) -> str:
    _mark_worker()
    raise TimeoutError(f"dependency timed out ({number})")


@asgi.get("/pid")
async def async_pid() -> str:
    return str(os.getpid())
