"""Local stand-ins for the services the deployment talks to, recording what they receive.

- :class:`CaptureServer`: an HTTP server on 127.0.0.1 that records every POST and
  answers like the real endpoint would: Loki's native OTLP endpoint (protobuf
  ``ExportLogsServiceResponse``), PagerDuty's Events API v2 (``202`` with a JSON
  status), a Slack incoming webhook (``ok``) or any webhook (``200``). Bodies sent
  with ``Content-Encoding: gzip`` are stored decompressed.
- :class:`SmtpCapture`: an SMTP server (aiosmtpd) that accepts ``AUTH PLAIN``
  without TLS (loopback only) and records the logins and the parsed messages.

Why stand-ins: Loki and Grafana cannot run on this machine, and PagerDuty, Slack,
an SMS gateway and a mail relay are third-party services; what the test can prove is
that the right request reaches the right path in the right format.
"""

from __future__ import annotations

import email
import email.policy
import gzip
import json
import threading
from dataclasses import dataclass
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

OTLP_LOGS = (200, "application/x-protobuf", b"")
"""Loki's answer to an OTLP export: an empty ``ExportLogsServiceResponse``."""
PAGERDUTY = (
    202,
    "application/json",
    json.dumps({"status": "success", "message": "Event processed"}).encode(),
)
SLACK = (200, "text/plain", b"ok")
WEBHOOK = (200, "text/plain", b"")


@dataclass(frozen=True)
class Captured:
    """One request as the stand-in received it."""

    path: str
    headers: dict[str, str]
    """Header names in lower case."""
    body: bytes
    """Decompressed when the request was gzip-encoded."""

    def json(self) -> Any:
        return json.loads(self.body)


class CaptureServer:
    """Records POSTs on 127.0.0.1 (a free port) and answers with a fixed reply."""

    def __init__(self, reply: tuple[int, str, bytes]) -> None:
        self._lock = threading.Lock()
        self._received: list[Captured] = []
        status, content_type, body = reply
        received, lock = self._received, self._lock

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                data = self.rfile.read(length)
                if self.headers.get("Content-Encoding", "").lower() == "gzip":
                    data = gzip.decompress(data)
                headers = {k.lower(): v for k, v in self.headers.items()}
                with lock:
                    received.append(Captured(self.path, headers, data))
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                """Silent: the test reports what matters."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def received(self, path_prefix: str = "") -> list[Captured]:
        """Requests so far whose path starts with ``path_prefix``."""
        with self._lock:
            return [c for c in self._received if c.path.startswith(path_prefix)]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


class _Recorder:
    """aiosmtpd handler and authenticator that keep what arrives."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages: list[EmailMessage] = []
        self.logins: list[tuple[str, str]] = []

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self,
        server: SMTP,  # noqa: ARG002 - aiosmtpd's hook signature
        session: Session,  # noqa: ARG002 - same
        envelope: Envelope,
    ) -> str:
        content = envelope.original_content or b""
        message = email.message_from_bytes(content, policy=email.policy.default)
        with self.lock:
            self.messages.append(message)  # type: ignore[arg-type]
        return "250 Message accepted for delivery"

    def authenticate(
        self,
        server: SMTP,  # noqa: ARG002 - aiosmtpd's authenticator signature
        session: Session,  # noqa: ARG002 - same
        envelope: Envelope,  # noqa: ARG002 - same
        mechanism: str,  # noqa: ARG002 - same
        data: Any,
    ) -> AuthResult:
        if isinstance(data, LoginPassword):
            with self.lock:
                self.logins.append((data.login.decode(), data.password.decode()))
        return AuthResult(success=True)


class SmtpCapture:
    """An SMTP server on 127.0.0.1:``port`` that records logins and messages."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._recorder = _Recorder()
        self._controller = Controller(
            self._recorder, hostname="127.0.0.1", port=port,
            authenticator=self._recorder.authenticate, auth_require_tls=False,
            # aiosmtpd's LOGIN prompts ("User Name") are not the "Username:" that
            # Alertmanager's LOGIN expects; PLAIN is what relays offer anyway.
            auth_exclude_mechanism=["LOGIN"],
        )  # fmt: skip
        self._controller.start()

    @property
    def messages(self) -> list[EmailMessage]:
        with self._recorder.lock:
            return list(self._recorder.messages)

    @property
    def logins(self) -> list[tuple[str, str]]:
        with self._recorder.lock:
            return list(self._recorder.logins)

    def close(self) -> None:
        self._controller.stop()
