"""The payments service (C) over gRPC, run under ``opentelemetry-instrument``.

A sync grpcio server whose ``/shop.Payments/Charge`` fails with ``PAY-001`` (from
``errors.toml``, ``OTEL_ERRORS_CATALOG``); with ``OTEL_ERRORS_PROPAGATE_ERRORS=true``
the failure's code and origin travel back in the trailing metadata. The port it listens
on is written to ``PORT_FILE``.
"""

from __future__ import annotations

import os
from concurrent import futures
from pathlib import Path

import grpc

import otel_errors


class PaymentFailed(otel_errors.AppError, code="PAY-001"):
    """The payment provider is down: the failure begins here."""


def charge(request: bytes, context: grpc.ServicerContext) -> bytes:
    """Every charge fails."""
    raise PaymentFailed


if __name__ == "__main__":
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    handler = grpc.unary_unary_rpc_method_handler(charge)
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler("shop.Payments", {"Charge": handler}),)
    )
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    Path(os.environ["PORT_FILE"]).write_text(str(port))
    server.wait_for_termination()
