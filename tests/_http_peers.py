"""Real HTTP peers on 127.0.0.1 for the HTTP client tests.

Every peer binds port 0 on loopback and runs in daemon threads; stopping it wakes
any handler that is stalling, so no thread outlives its test. Paths of the
:class:`HTTPPeer`:

- ``/status/<code>``: answers ``<code>`` with a short body; ``?retry_after=<value>``
  adds a ``Retry-After`` header with that value;
- ``/not-json``: claims ``application/json`` and sends HTML;
- ``/bad-gzip``: claims ``Content-Encoding: gzip`` and sends bytes that are not gzip;
- ``/loop``: redirects to itself, forever;
- ``/stall``: reads the request and never answers (until the peer stops): read timeout;
- ``/reset``: reads the request and resets the connection (``SO_LINGER`` 0);
- ``/close``: reads the request and closes the connection without answering.
- ``/scripted/<name>``: answers what :meth:`HTTPPeer.script` set for ``<name>``: a
  status and raw header lines, written byte for byte (malformed and oversized ones too).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import socket
import ssl
import struct
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

_STALL_LIMIT = 30.0
"""Longest a stalled handler waits when nobody stops the peer (a safety bound only)."""
_MAX_FILLERS = 16
_FILLER_TIMEOUT = 0.2


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body leave at once: no delayed-ACK stall
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Keeps test output clean."""

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        path = parts.path
        if path.startswith("/status/"):
            headers = {"Retry-After": query["retry_after"]} if "retry_after" in query else {}
            self._answer(int(path.rsplit("/", 1)[1]), b"status body", headers)
        elif path == "/not-json":
            self._answer(200, b"<html>not json</html>", {"Content-Type": "application/json"})
        elif path == "/bad-gzip":
            self._answer(200, b"definitely not gzip", {"Content-Encoding": "gzip"})
        elif path == "/loop":
            self._answer(302, b"", {"Location": "/loop"})
        elif path == "/stall":
            self.server.stopping.wait(_STALL_LIMIT)
            self.close_connection = True
        elif path == "/reset":
            linger = struct.pack("ii", 1, 0)
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
            # Closing the descriptor itself (not socket.close(), which waits for the
            # handler's file objects, nor shutdown(), which sends FIN) sends RST.
            os.close(self.connection.detach())
            self.close_connection = True
        elif path == "/close":
            self.close_connection = True
        elif path.startswith("/scripted/") and path[10:] in self.server.scripts:
            self._answer_raw(*self.server.scripts[path[10:]])
        else:
            self._answer(404, b"no such path", {})

    def _answer_raw(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        lines = [f"HTTP/1.1 {status} Scripted".encode()]
        lines += [name + b": " + value for name, value in headers]
        lines.append(f"Content-Length: {len(body)}".encode())
        self.wfile.write(b"\r\n".join(lines) + b"\r\n\r\n" + body)

    def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    stopping: threading.Event
    scripts: dict[str, tuple[int, list[tuple[bytes, bytes]], bytes]]


class HTTPPeer:
    """A threaded HTTP/1.1 server on 127.0.0.1 (HTTPS when given a TLS context).

    Args:
        tls: Server-side TLS context; None serves plain HTTP.
    """

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        """Binds a free loopback port and starts serving."""
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.stopping = threading.Event()
        self._server.scripts = {}
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]
        scheme = "https" if tls is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def script(
        self,
        name: str,
        status: int,
        headers: list[tuple[bytes, bytes]],
        body: bytes = b"scripted body",
    ) -> str:
        """Makes ``/scripted/<name>`` answer ``status`` with these raw headers; its URL."""
        self._server.scripts[name] = (status, headers, body)
        return f"{self.url}/scripted/{name}"

    def stop(self) -> None:
        """Wakes stalled handlers, stops serving and closes the listening socket."""
        self._server.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released): connecting is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@contextlib.contextmanager
def full_backlog() -> Iterator[int]:
    """A loopback port whose accept queue is full: new connections time out connecting.

    The listener never accepts and has a backlog of 0; once one connection waits in
    its queue, Linux drops further SYNs, so a client's connect times out, the
    only way to get a connect timeout without a network.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port: int = listener.getsockname()[1]
        fillers: list[socket.socket] = []
        try:
            for _ in range(_MAX_FILLERS):
                filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                fillers.append(filler)
                filler.settimeout(_FILLER_TIMEOUT)
                try:
                    filler.connect(("127.0.0.1", port))
                except TimeoutError:
                    break
            else:
                raise RuntimeError("the accept queue never filled up")
            yield port
        finally:
            for filler in fillers:
                filler.close()


def self_signed_tls(directory: Path) -> ssl.SSLContext:
    """A server TLS context with a fresh self-signed certificate (for ``localhost``).

    No client trusts it, so verifying clients fail the handshake: the TLS failure
    the tests need, without any network.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "otel-errors test peer")])
    now = dt.datetime.now(dt.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file = directory / "cert.pem"
    key_file = directory / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context


def tls_peer() -> HTTPPeer:
    """An HTTPS peer whose certificate no client trusts."""
    with tempfile.TemporaryDirectory() as directory:
        return HTTPPeer(tls=self_signed_tls(Path(directory)))
