"""The applications the pre-fork server tests run: WSGI (Flask) and ASGI (FastAPI).

``/fail/<n>`` raises after marking its span with the worker's pid and 50 ms of work
(a busy worker lets the other take the next request), ``/pid`` answers the worker's
pid. At import, which ``--preload`` does in the master before forking, a
warm-up request of each route fails the same way: the master's own count, in the very
series the workers count into, which no worker may re-export as its own.
"""

from __future__ import annotations

import os
import time

from fastapi import FastAPI
from flask import Flask
from opentelemetry import trace
from opentelemetry.trace import SpanKind

import otel_errors

for route in ("/fail/<int:number>", "/fail/{number}"):
    with trace.get_tracer("warm-up").start_as_current_span(
        "warm-up", kind=SpanKind.SERVER, attributes={"http.route": route}
    ):
        otel_errors.record_error(TimeoutError("dependency timed out (warm-up)"), handled=False)


def _mark_worker() -> None:
    trace.get_current_span().set_attribute("worker.pid", os.getpid())


wsgi = Flask("prefork")


@wsgi.get("/fail/<int:number>")
def fail(number: int) -> str:
    _mark_worker()
    time.sleep(0.05)
    raise TimeoutError(f"dependency timed out ({number})")


@wsgi.get("/pid")
def pid() -> str:
    return str(os.getpid())


asgi = FastAPI()


@asgi.get("/fail/{number}")
async def async_fail(number: int) -> str:
    _mark_worker()
    # Blocking on purpose: a worker whose loop is busy cannot accept the next request,
    # so the other worker takes it (with a non-blocking sleep one worker may take all).
    time.sleep(0.05)  # noqa: ASYNC251
    raise TimeoutError(f"dependency timed out ({number})")


@asgi.get("/pid")
async def async_pid() -> str:
    return str(os.getpid())
