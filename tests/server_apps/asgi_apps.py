"""ASGI applications for uvicorn: FastAPI (contrib instruments it) and plain Starlette."""

from __future__ import annotations

import logging

from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

log = logging.getLogger("server_apps.views")


async def health(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


async def fail(request: Request) -> PlainTextResponse:
    return PlainTextResponse(str(1 // 0))


async def logged(request: Request) -> PlainTextResponse:
    try:
        return PlainTextResponse(str(1 // 0))
    except ZeroDivisionError:
        log.exception("division failed")
        raise


async def handled(request: Request) -> PlainTextResponse:
    try:
        return PlainTextResponse(str(1 // 0))
    except ZeroDivisionError:
        log.exception("division failed, answering anyway")
        return PlainTextResponse("fallback")


ROUTES = [
    Route("/health", health),
    Route("/fail", fail),
    Route("/logged", logged),
    Route("/handled", handled),
]
starlette_app = Starlette(routes=ROUTES)
fastapi_app = FastAPI()
for route in ROUTES:
    fastapi_app.router.routes.append(route)
