"""A gRPC server with one generic method per failure: ``python grpc_app.py PORT``.

The methods take and return bytes (no generated stubs); ``Health`` answers ``ok``.
"""

from __future__ import annotations

import logging
import signal
import sys
from concurrent import futures
from typing import Any

import grpc

log = logging.getLogger("server_apps.views")


def health(request: bytes, context: Any) -> bytes:
    return b"ok"


def fail(request: bytes, context: Any) -> bytes:
    return str(1 // 0).encode()


def logged(request: bytes, context: Any) -> bytes:
    try:
        return str(1 // 0).encode()
    except ZeroDivisionError:
        log.exception("division failed")
        raise


def handled(request: bytes, context: Any) -> bytes:
    try:
        return str(1 // 0).encode()
    except ZeroDivisionError:
        log.exception("division failed, answering anyway")
        return b"fallback"


METHODS = {"Health": health, "Fail": fail, "Logged": logged, "Handled": handled}

if __name__ == "__main__":
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    handlers = {name: grpc.unary_unary_rpc_method_handler(f) for name, f in METHODS.items()}
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler("outcomes.Svc", handlers),)
    )
    server.add_insecure_port(f"127.0.0.1:{sys.argv[1]}")
    server.start()
    signal.signal(signal.SIGTERM, lambda *_: server.stop(grace=1))
    server.wait_for_termination()
