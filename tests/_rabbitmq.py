"""What the pika and aio-pika tests share: the broker of tests/servers.sh and helpers."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from otel_errors._internal.recording.runtime import current
from otel_errors.integrations._messaging import MessageRejected

RABBITMQ_URL = os.environ.get("OTEL_ERRORS_TEST_RABBITMQ_URL", "")
RABBITMQCTL = os.environ.get("OTEL_ERRORS_TEST_RABBITMQCTL", "")
MARKS = [
    pytest.mark.rabbitmq,
    pytest.mark.skipif(
        not RABBITMQ_URL,
        reason="OTEL_ERRORS_TEST_RABBITMQ_URL is not set: start the test servers with "
        "`bash tests/servers.sh start` and load .test-servers.env (tests/run.sh does both)",
    ),
]
"""The module marks: the ``rabbitmq`` marker, and a skip when no broker is configured."""
REJECTED = f"{MessageRejected.__module__}.{MessageRejected.__qualname__}"
"""``exception.type`` of a message rejected without requeue."""


def code_of(exc: BaseException) -> str:
    return current().registry.classifier.classify(exc).error.code


def errors_count(metric_points: Any, code: str) -> int:
    """The ``errors`` counter's total for ``code`` (cumulative over the session)."""
    return sum(v for a, v in metric_points("errors") if a.get("error.code") == code)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def instrumented(*instrumentors: Any) -> Iterator[None]:
    """The given instrumentors (contrib's and ours) installed, removed in reverse order."""
    for each in instrumentors:
        each.instrument()
    try:
        yield
    finally:
        for each in reversed(instrumentors):
            each.uninstrument()
