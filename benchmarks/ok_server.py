"""The HTTP benchmarks' server, in a process of its own: every ``GET`` answered 200.

Run as ``python ok_server.py``: it binds a free port on 127.0.0.1, prints it on one
line, and serves keep-alive HTTP/1.1 until terminated. A process of its own, not a
thread of the benchmark, so that the CPU time a benchmark measures (its own process's)
holds the client's work only, and the server's is never counted on either side.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

BODY = b'{"ok": true}'


class _Ok(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body leave at once: no delayed-ACK stall

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Keeps the benchmark output clean."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)


class _Server(ThreadingHTTPServer):
    daemon_threads = True


@contextmanager
def ok_server() -> Iterator[str]:
    """Runs this module as a server process; yields its URL, ``http://127.0.0.1:PORT/items``."""
    with subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve())],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            assert process.stdout is not None
            yield f"http://127.0.0.1:{int(process.stdout.readline())}/items"
        finally:
            process.terminate()


def main() -> None:
    server = _Server(("127.0.0.1", 0), _Ok)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
