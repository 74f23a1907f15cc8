"""A bounded soak of the example shop: its memory and file descriptors stay flat under load.

The shop runs under the launcher, exporting over OTLP to the collector stand-in,
while four clients send the traffic mix of ``examples/shop/traffic.py`` (good requests
and every failure it knows) for ``OTEL_ERRORS_SOAK_SECONDS`` (20 by default; 300 for
the five minutes on demand). The shop's RSS and open descriptors are sampled four times a
second with psutil. After the warm-up (the first half: connection pools reach the
concurrency of the clients) the median RSS of the last quarter may exceed that of the
first quarter after warm-up by less than 5%. Descriptors may not grow at all: those
that are not sockets (files, pipes, event fds) stay at most as many as after warm-up,
and so does the median of all descriptors, whose sockets come and go with each request
(payment calls, Redis reconnections after a timeout, clients whose connection a failure
closed) while a leak would raise it. The figures are printed.
"""

from __future__ import annotations

import contextlib
import os
import random
import statistics
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
import requests
from _collector_standin import CollectorStandIn
from _shop import SHOP, running_shop, shop_environment

sys.path.insert(0, str(SHOP))
from traffic import MIX  # the example's own request mix

SOAK_SECONDS = float(os.environ.get("OTEL_ERRORS_SOAK_SECONDS", "20"))
SAMPLE_EVERY = 0.25
CLIENTS = 4


def _client(base: str, stop: threading.Event, seed: int) -> None:
    rng = random.Random(seed)  # noqa: S311 - a reproducible mix, nothing secret
    weights = [m[0] for m in MIX]
    with requests.Session() as session:
        while not stop.is_set():
            _, method, path, body = rng.choices(MIX, weights)[0]
            payload = dict(body) if body else None
            key = payload.pop("idempotency_key", None) if payload else None
            headers = {"Idempotency-Key": str(key)} if key else {}
            # A timeout under load is traffic too: the shop is what is watched.
            with contextlib.suppress(requests.RequestException):
                session.request(method, base + path, json=payload, headers=headers, timeout=5)


def _not_sockets(process: psutil.Process) -> int:
    """Open descriptors of ``process`` that are not sockets (Linux: read from /proc)."""
    directory = Path(f"/proc/{process.pid}/fd")
    found = 0
    for fd in directory.iterdir():
        with contextlib.suppress(OSError):  # closed while we looked
            found += not str(fd.readlink()).startswith("socket:")
    return found


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


@pytest.mark.postgres
@pytest.mark.redis
def test_the_shop_keeps_flat_memory_and_descriptors_under_load(tmp_path, postgres_dsn, redis_url):
    """Under steady traffic with errors, RSS grows < 5% after warm-up and descriptors not at all."""
    collector = CollectorStandIn(keep=False)
    env = shop_environment(
        postgres_dsn=postgres_dsn,
        redis_url=redis_url,
        OTEL_EXPORTER_OTLP_ENDPOINT=collector.http_endpoint,
        OTEL_ERRORS_LOG_CONSOLE_JSON="false",
    )
    samples: list[tuple[float, int, int, int]] = []
    stop = threading.Event()
    try:
        with running_shop(env, tmp_path) as shop:
            watched = psutil.Process(shop.process.pid)
            clients = [
                threading.Thread(target=_client, args=(shop.base, stop, seed), daemon=True)
                for seed in range(CLIENTS)
            ]
            for client in clients:
                client.start()
            started = time.monotonic()
            while (elapsed := time.monotonic() - started) < SOAK_SECONDS:
                samples.append(
                    (elapsed, watched.memory_info().rss, watched.num_fds(), _not_sockets(watched))
                )
                time.sleep(SAMPLE_EVERY)
            stop.set()
            for client in clients:
                client.join(10)
    finally:
        stop.set()
        collector.close()
    settled = [s for s in samples if s[0] >= SOAK_SECONDS / 2]
    quarter = max(len(settled) // 4, 1)
    early, late = settled[:quarter], settled[-quarter:]
    rss_early, rss_late = _median([s[1] for s in early]), _median([s[1] for s in late])
    fds_early, fds_late = max(s[2] for s in early), _median([s[2] for s in late])
    files_early, files_late = max(s[3] for s in early), max(s[3] for s in late)
    growth = rss_late / rss_early - 1
    print(
        f"soak {SOAK_SECONDS:.0f}s, {len(samples)} samples, {sum(collector.answers.values())} "
        f"exports: RSS {rss_early / 2**20:.1f} -> {rss_late / 2**20:.1f} MiB ({growth:+.2%}); "
        f"descriptors: at most {fds_early} early, median {fds_late:.0f} late; "
        f"not sockets {files_early} -> {files_late}"
    )
    assert sum(collector.answers.values()) > 0, "nothing was exported: the soak saw no telemetry"
    assert growth < 0.05, samples
    assert files_late <= files_early, samples
    assert fds_late <= fds_early, samples
