"""One service of a three-service shop, run under ``opentelemetry-instrument``.

``ROLE`` picks the service: ``payments`` (C) fails with its own ``PAY-001``;
``orders`` (B) calls payments with requests (``/order``) or over gRPC
(``/order-by-grpc``: ``payments_grpc.py`` at ``PAYMENTS_GRPC``) and raises ``ORD-502``
from the failure, and has a bug of its own at ``/bug``; ``gateway`` (A) calls orders
with httpx and lets ``raise_for_status()`` escape, so Flask answers its own 500. The
port it listens on is written to ``PORT_FILE``; ``UPSTREAM`` is the next service's URL.
The codes come from ``errors.toml`` beside it (``OTEL_ERRORS_CATALOG``).
"""

from __future__ import annotations

import os
from pathlib import Path

import grpc
import httpx
import requests
from flask import Flask
from werkzeug.serving import make_server

import otel_errors


class PaymentFailed(otel_errors.AppError, code="PAY-001"):
    """The payment provider is down: the failure begins here."""


class OrderFailed(otel_errors.AppError, code="ORD-502"):
    """The order could not be placed because its payment failed."""


app = Flask(os.environ["ROLE"])
UPSTREAM = os.environ.get("UPSTREAM", "")


@app.get("/pay")
def pay() -> str:
    raise PaymentFailed


@app.get("/order")
def order() -> str:
    try:
        requests.get(f"{UPSTREAM}/pay", timeout=10).raise_for_status()
    except requests.HTTPError as exc:
        raise OrderFailed from exc
    return "ordered"


@app.get("/order-by-grpc")
def order_by_grpc() -> str:
    with grpc.insecure_channel(os.environ["PAYMENTS_GRPC"]) as channel:
        charge = channel.unary_unary("/shop.Payments/Charge")
        try:
            charge(b"order", timeout=10)
        except grpc.RpcError as exc:
            raise OrderFailed from exc
    return "ordered"


@app.get("/bug")
def bug() -> str:
    return str(1 // 0)


@app.get("/checkout/<path:step>")
def checkout(step: str) -> str:
    with httpx.Client(timeout=10) as client:
        client.get(f"{UPSTREAM}/{step}").raise_for_status()
    return "checked out"


if __name__ == "__main__":
    server = make_server("127.0.0.1", 0, app, threaded=True)
    Path(os.environ["PORT_FILE"]).write_text(str(server.port))
    server.serve_forever()
