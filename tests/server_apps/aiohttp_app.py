"""An aiohttp server: ``python aiohttp_app.py PORT``."""

from __future__ import annotations

import logging
import sys

from aiohttp import web

log = logging.getLogger("server_apps.views")


async def health(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def fail(request: web.Request) -> web.Response:
    return web.Response(text=str(1 // 0))


async def logged(request: web.Request) -> web.Response:
    try:
        return web.Response(text=str(1 // 0))
    except ZeroDivisionError:
        log.exception("division failed")
        raise


async def handled(request: web.Request) -> web.Response:
    try:
        return web.Response(text=str(1 // 0))
    except ZeroDivisionError:
        log.exception("division failed, answering anyway")
        return web.Response(text="fallback")


if __name__ == "__main__":
    app = web.Application()
    for name, view in (
        ("health", health),
        ("fail", fail),
        ("logged", logged),
        ("handled", handled),
    ):
        app.router.add_get(f"/{name}", view)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
