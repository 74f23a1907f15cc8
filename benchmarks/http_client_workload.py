"""One process of ``test_bench_http_launcher.py``: successful GETs, and the CPU they cost.

Run under ``opentelemetry-instrument`` (vanilla distro or otel_errors, OTLP/HTTP to a
local sink): ``python http_client_workload.py CLIENT URL COUNT``, ``CLIENT`` being
``requests`` (one ``Session``) or ``httpx`` (one ``Client``). It makes a few calls to
warm up (the connection, imports, first exports), flushes, then makes ``COUNT`` GETs
to ``URL`` (reading each body) and flushes the tracer provider again, so the export
of their spans is paid inside the measurement, and prints ``{"cpu": seconds}``: the
process's CPU time (every thread: the calls and the exporting thread) over that
stretch. The server is another process, so its CPU is not in the figure.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable

from opentelemetry import trace

WARM_UP = 20
"""Calls made before the measurement."""


def requests_calls(url: str) -> Callable[[int], None]:
    import requests  # only the client measured is imported

    session = requests.Session()

    def calls(n: int) -> None:
        for _ in range(n):
            session.get(url, timeout=5).content  # noqa: B018 - reading the body is part of a call

    return calls


def httpx_calls(url: str) -> Callable[[int], None]:
    import httpx  # only the client measured is imported

    client = httpx.Client()

    def calls(n: int) -> None:
        for _ in range(n):
            client.get(url, timeout=5).content  # noqa: B018 - reading the body is part of a call

    return calls


CLIENTS = {"requests": requests_calls, "httpx": httpx_calls}


def main() -> None:
    client, url, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    calls = CLIENTS[client](url)
    flush = getattr(trace.get_tracer_provider(), "force_flush", lambda: True)
    calls(WARM_UP)
    flush()
    start = time.process_time()
    calls(count)
    flush()
    print(json.dumps({"cpu": time.process_time() - start}))


if __name__ == "__main__":
    main()
