"""A collector stand-in: an OTLP receiver on 127.0.0.1 that can misbehave on purpose.

One shared helper for the fault tests, the parity harness and the benchmarks: it
receives OTLP over HTTP (``/v1/traces``, ``/v1/metrics``, ``/v1/logs``, protobuf,
gzip or not) and over gRPC, keeps what arrived (decoded), and answers according to
its :attr:`CollectorStandIn.mode`, which a test may change at any time:

- ``ok``: accepts everything;
- ``slow``: accepts, after ``delay`` seconds;
- ``throttle``: 429 with ``Retry-After`` / ``RESOURCE_EXHAUSTED``;
- ``unavailable``: 503 / ``UNAVAILABLE``;
- ``drop``: closes the connection without an answer (gRPC: ``UNAVAILABLE``, which is
  how a client sees a dropped stream);

and :meth:`CollectorStandIn.down` / :meth:`CollectorStandIn.up` stop and restart
listening on the same ports (a collector that is down, then comes back).

Why a stand-in and not the real collector: the faults must be chosen and switched
by the test, and the real collector cannot be told to answer 429 or to hang. The
end-to-end tests use the real binaries.

Run alone (``python tests/_collector_standin.py --mode slow --delay 3``) it prints
its endpoints and, on Ctrl-C or SIGTERM, what it received.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import signal
import socket
import sys
import threading
import time
from collections import Counter
from concurrent import futures
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

if TYPE_CHECKING:
    from collections.abc import Callable

    from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
    from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric
    from opentelemetry.proto.trace.v1.trace_pb2 import Span

MODES = ("ok", "slow", "throttle", "unavailable", "drop")
_LONGEST_DELAY = 120.0
"""A slow answer never waits longer than this: the stand-in always stops by itself."""

_REQUESTS = {
    "/v1/traces": (trace_service_pb2.ExportTraceServiceRequest, "traces"),
    "/v1/metrics": (metrics_service_pb2.ExportMetricsServiceRequest, "metrics"),
    "/v1/logs": (logs_service_pb2.ExportLogsServiceRequest, "logs"),
}
_RESPONSES = {
    "traces": trace_service_pb2.ExportTraceServiceResponse,
    "metrics": metrics_service_pb2.ExportMetricsServiceResponse,
    "logs": logs_service_pb2.ExportLogsServiceResponse,
}


@dataclass
class Received:
    """What arrived while the stand-in answered ``ok`` or ``slow`` (what a collector keeps)."""

    traces: list[Any] = field(default_factory=list)
    metrics: list[Any] = field(default_factory=list)
    logs: list[Any] = field(default_factory=list)


class CollectorStandIn:
    """OTLP over HTTP and gRPC on free loopback ports, with switchable faults.

    Args:
        mode: The initial mode (see the module docstring).
        delay: Seconds a ``slow`` answer waits.
        grpc_receiver: Also listen for OTLP/gRPC.
        keep: Keep what arrives; a long run (soak, benchmark) only counts the answers.
    """

    def __init__(
        self,
        mode: str = "ok",
        *,
        delay: float = 0.0,
        grpc_receiver: bool = True,
        keep: bool = True,
    ) -> None:
        self.mode = mode
        self.delay = delay
        self.keep = keep
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._received = Received()
        self.answers: Counter[tuple[str, str]] = Counter()
        """``(signal, mode)`` of every request answered, accepted or not."""
        self._http_port = _free_port()
        self._grpc_port = _free_port() if grpc_receiver else None
        self._http: ThreadingHTTPServer | None = None
        self._http_thread: threading.Thread | None = None
        self._grpc: grpc.Server | None = None
        self.up()

    @property
    def mode(self) -> str:
        """How requests are answered from now on."""
        return self._mode

    @mode.setter
    def mode(self, value: str) -> None:
        if value not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {value!r}")
        self._mode = value
        changed = getattr(self, "_changed", None)
        if changed is not None:
            with changed:
                changed.notify_all()

    @property
    def http_endpoint(self) -> str:
        """Base URL for ``OTEL_EXPORTER_OTLP_ENDPOINT`` with ``http/protobuf``."""
        return f"http://127.0.0.1:{self._http_port}"

    @property
    def grpc_endpoint(self) -> str:
        """Endpoint for ``OTEL_EXPORTER_OTLP_ENDPOINT`` with ``grpc``."""
        if self._grpc_port is None:
            raise RuntimeError("this stand-in has no gRPC receiver")
        return f"http://127.0.0.1:{self._grpc_port}"

    def up(self) -> None:
        """Starts listening (again) on the same ports."""
        with self._lock:
            if self._http is not None:
                return
            self._http = _HTTPServer(("127.0.0.1", self._http_port), _handler_for(self))
            self._http.daemon_threads = True
            self._http_thread = threading.Thread(target=self._http.serve_forever, daemon=True)
            self._http_thread.start()
            if self._grpc_port is not None:
                self._grpc = _grpc_server(self, self._grpc_port)

    def down(self) -> None:
        """Stops listening: new connections are refused, as with a collector that is down."""
        with self._lock:
            http, grpc_server, thread = self._http, self._grpc, self._http_thread
            self._http = self._grpc = self._http_thread = None
            self._changed.notify_all()
        if http is not None:
            http.shutdown()
            http.server_close()
        if thread is not None:
            thread.join(timeout=10)
        if grpc_server is not None:
            grpc_server.stop(grace=None).wait(10)

    close = down

    def spans(self) -> list[Span]:
        """Every span received so far."""
        with self._lock:
            requests = list(self._received.traces)
        return [
            span
            for request in requests
            for resource in request.resource_spans
            for scope in resource.scope_spans
            for span in scope.spans
        ]

    def log_records(self) -> list[LogRecord]:
        """Every log record received so far."""
        with self._lock:
            requests = list(self._received.logs)
        return [
            record
            for request in requests
            for resource in request.resource_logs
            for scope in resource.scope_logs
            for record in scope.log_records
        ]

    def metrics(self) -> list[Metric]:
        """Every metric received so far (one entry per metric per export)."""
        with self._lock:
            requests = list(self._received.metrics)
        return [
            metric
            for request in requests
            for resource in request.resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
        ]

    def wait_for(self, condition: Callable[[], bool], timeout: float = 10.0) -> bool:
        """Polls ``condition`` until it holds or ``timeout`` passes; returns whether it held."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return True
            time.sleep(0.05)
        return condition()

    def answer(self, signal_name: str, request: Any) -> str:
        """Decides the fate of one request; keeps it when accepted. Returns the mode used."""
        mode = self._mode
        if mode == "slow":
            self._wait(min(self.delay, _LONGEST_DELAY))
        with self._lock:
            self.answers[signal_name, mode] += 1
            if mode in ("ok", "slow") and self.keep:
                getattr(self._received, signal_name).append(request)
        return mode

    def _wait(self, seconds: float) -> None:
        """Sleeps ``seconds``, or less if the stand-in goes down meanwhile."""
        deadline = time.monotonic() + seconds
        with self._changed:
            while self._http is not None and (left := deadline - time.monotonic()) > 0:
                self._changed.wait(left)


class _HTTPServer(ThreadingHTTPServer):
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (an exporter stopped at its deadline) is no error here."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _handler_for(standin: CollectorStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            kind = _REQUESTS.get(self.path.split("?")[0])
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            if kind is None:
                self._reply(404, b"")
                return
            message_type, signal_name = kind
            if self.headers.get("Content-Encoding", "").lower() == "gzip":
                body = gzip.decompress(body)
            request = message_type()
            request.ParseFromString(body)
            mode = standin.answer(signal_name, request)
            if mode == "drop":
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if mode == "throttle":
                self._reply(429, b"", {"Retry-After": "1"})
            elif mode == "unavailable":
                self._reply(503, b"")
            else:
                self._reply(200, _RESPONSES[signal_name]().SerializeToString())

        def _reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
            """Silent: the tests report what matters."""

    return Handler


_GRPC_STATUS = {
    "throttle": grpc.StatusCode.RESOURCE_EXHAUSTED,
    "unavailable": grpc.StatusCode.UNAVAILABLE,
    "drop": grpc.StatusCode.UNAVAILABLE,
}


def _grpc_server(standin: CollectorStandIn, port: int) -> grpc.Server:
    def servicer(signal_name: str) -> Callable[[Any, grpc.ServicerContext], Any]:
        def export(request: Any, context: grpc.ServicerContext) -> Any:
            mode = standin.answer(signal_name, request)
            if mode in _GRPC_STATUS:
                context.abort(_GRPC_STATUS[mode], f"stand-in mode {mode}")
            return _RESPONSES[signal_name]()

        return export

    class Traces(trace_service_pb2_grpc.TraceServiceServicer):
        Export = staticmethod(servicer("traces"))

    class Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
        Export = staticmethod(servicer("metrics"))

    class Logs(logs_service_pb2_grpc.LogsServiceServicer):
        Export = staticmethod(servicer("logs"))

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Traces(), server)
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(Metrics(), server)
    logs_service_pb2_grpc.add_LogsServiceServicer_to_server(Logs(), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    return server


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    """Runs a stand-in until SIGINT or SIGTERM, then prints what it received."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mode", choices=MODES, default="ok")
    parser.add_argument("--delay", type=float, default=0.0)
    options = parser.parse_args()
    standin = CollectorStandIn(options.mode, delay=options.delay)
    print(f"http {standin.http_endpoint}\ngrpc {standin.grpc_endpoint}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    standin.close()
    spans, logs, metrics = standin.spans(), standin.log_records(), standin.metrics()
    print(f"spans {len(spans)} logs {len(logs)} metrics {len(metrics)}")
    print(dict(standin.answers))


if __name__ == "__main__":
    main()
