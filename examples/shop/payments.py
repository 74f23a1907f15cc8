"""A fake payment provider on 127.0.0.1 that fails the way real ones do.

Card numbers decide: ``...0002`` is declined (402), ``...0003`` stalls past the
shop's timeout, ``...0004`` drops the connection; anything else is charged.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STALL_SECONDS = 1.0


class PaymentsHandler(BaseHTTPRequestHandler):
    """Answers POST /charge."""

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length) or b"{}")
        card = str(body.get("card", ""))
        if card.endswith("0002"):
            self._reply(402, {"error": "card_declined"})
        elif card.endswith("0003"):
            time.sleep(STALL_SECONDS)
            self._reply(200, {"payment_id": "late"})
        elif card.endswith("0004"):
            self.connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
            self.connection.close()
        else:
            self._reply(200, {"payment_id": uuid.uuid4().hex})

    def _reply(self, status: int, payload: dict[str, object]) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the shop gave up waiting (the stalling card): expected

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        """Silent: the demo's output is the error report."""


def main() -> None:
    """Serves on 127.0.0.1 (port from PAYMENTS_PORT, default 8701) until killed."""
    server = ThreadingHTTPServer(
        ("127.0.0.1", int(os.environ.get("PAYMENTS_PORT", "8701"))), PaymentsHandler
    )
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
