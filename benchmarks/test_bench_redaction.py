"""Redaction cost per span: otel_errors' engine vs logfire's scrubber, in one run.

Both redact the same finished HTTP server span (10 string attributes of realistic
length, four of them carrying secrets: a token in a query string, a bearer JWT, an
e-mail in SQL, a card number), the way each runs in its pipeline: logfire's span
processor wrapper converts the span to a dict, scrubs it and rebuilds the span;
otel_errors' exporter wrapper redacts and rebuilds only what changed, batch by batch
(``redact_batch``, which also counts the rules that fired, once a batch). Each round
redacts a batch of 100 fresh spans (an exporter batch) whose per-request values
(order id, token, e-mail, card) differ, so no cache of clean values helps on them; the
token and the e-mail differ in letters too, as real ones do, so no memo of a value's
template (its text with digits as 0) helps on them either: only the card's message
repeats its template, as messages holding numbers do. Target
(issue 13): otel_errors at most 0.35 of logfire's cost, and under 5 µs for a span of
short clean values that repeat (method, route, status: the fast path).

Case h has no target; it shows the price of scrubbing what logfire leaves alone: a
failed request's span whose ``exception`` event carries a message and stack trace
with an e-mail and a password (logfire treats ``exception.message`` and
``exception.stacktrace`` as safe keys and exports both in clear).

pytest-benchmark times wall clock; on a shared machine a neighbour's burst moves its
medians of f by more than the gap being measured. ``test_redaction_cpu_interleaved``
measures the same spans in CPU time (``time.process_time``, garbage collection off
during each batch), the two sides taking turns batch by batch, and adds the paired
ratio (benchmarks/_paired.py) to the summary: the figure the targets are judged on.
It measures whichever engine is imported, and says which: the pure-Python one from a
plain checkout, the compiled one where mypyc's extension modules sit beside the .py
files (as tests/run.sh unpacks them, or installed from a platform wheel).
"""

from __future__ import annotations

import gc
import itertools
import os
import random
import re
import statistics
import string
import time
import traceback
import uuid
from collections.abc import Callable

import pytest
from _paired import ratios
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.trace import SpanContext, SpanKind

from otel_errors._internal.export.redaction import redact_batch, redact_span
from otel_errors._internal.scrubbing import RedactionConfig, Redactor, compiled

CONTEXT = SpanContext(trace_id=0x1234, span_id=0x5678, is_remote=False)
RESOURCE = Resource.create({"service.name": "shop"})  # one per provider, as in the SDK
_ROUNDS = itertools.count()


def _secret_attributes() -> dict[str, object]:
    """The span of one request: ids, token and card differ from one request to the next."""
    n = next(_ROUNDS)
    rng = random.Random(n)  # noqa: S311
    order_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    token = "".join(rng.choices(string.ascii_letters + string.digits, k=18))
    customer = "".join(rng.choices(string.ascii_lowercase, k=8))
    card = f"4{n % 10**14:014d}"
    card += str((10 - sum(map(int, _luhn_digits(card))) % 10) % 10)
    return {
        "http.request.method": "POST",
        "http.route": "/api/v1/orders/{order_id}/payments",
        "url.full": f"https://shop.example.com/api/v1/orders/{order_id}/payments"
        f"?session_token={token}&locale=en-GB",
        "http.request.header.authorization": (
            f"Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI{n:08d}In0.dozjgNryP4J3jVm",
        ),
        "user_agent.original": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        "server.address": "shop.example.com",
        "db.query.text": "SELECT id, status, total_cents FROM orders WHERE customer_email = "  # noqa: S608
        f"'{customer}.doe@example.com' AND status = 'pending' LIMIT 1",
        "app.order_id": order_id,
        "app.customer_note": "Please leave the parcel with the concierge, call me on arrival",
        "app.payment_status": f"declined: card {card} expired (issuer response 54)",
    }


def _luhn_digits(partial: str) -> list[str]:
    """The digits Luhn sums for ``partial`` plus a check digit still to come."""
    digits = []
    for position, char in enumerate(reversed(partial)):
        value = int(char) * (2 if position % 2 == 0 else 1)
        digits.extend(str(value))
    return digits


CLEAN_ATTRIBUTES = {
    "http.request.method": "GET",
    "http.route": "/products/{id}",
    "http.response.status_code": "200",
    "server.address": "shop.internal",
    "server.port": "8700",
    "network.protocol.version": "1.1",
    "url.scheme": "http",
    "app.region": "eu-west-1",
    "app.tier": "gold",
    "app.feature": "checkout-v2",
}


def _span(attributes: dict[str, object]) -> ReadableSpan:
    return ReadableSpan(
        name="POST /orders/{order_id}",
        context=CONTEXT,
        resource=RESOURCE,
        attributes=attributes,
        kind=SpanKind.SERVER,
        start_time=1,
        end_time=2,
    )


Redact = Callable[[list[ReadableSpan]], list[ReadableSpan]]
"""Redacts an exporter batch of spans, as the side's pipeline does."""


def _redact_with(side: str) -> Redact:
    if side == "logfire":
        pytest.importorskip("logfire")
        from logfire._internal.scrubbing import Scrubber
        from logfire._internal.utils import span_to_dict

        scrubber = Scrubber(None)

        def logfire_redact(span: ReadableSpan) -> ReadableSpan:
            span_dict = span_to_dict(span)
            scrubber.scrub_span(span_dict)
            return ReadableSpan(**span_dict)

        return lambda spans: [logfire_redact(span) for span in spans]  # its processor: per span
    redactor = Redactor(RedactionConfig.build(hash_key="benchmark"))
    # The exporter wrapper's own batch function: what each exported batch costs it.
    return lambda spans: redact_batch(redact_span, spans, redactor, "benchmark")


@pytest.fixture(params=["logfire", "otel_errors"])
def redact(request):
    return request.param, _redact_with(request.param)


BATCH = 100


def test_span_with_secrets(benchmark, redact):
    name, function = redact
    benchmark.group = "f. redaction, span with 10 string attributes (4 secrets)"
    benchmark.name = name
    benchmark.extra_info["per_call"] = BATCH  # the summary reports time per span
    results = benchmark.pedantic(
        function,
        setup=lambda: (([_span(_secret_attributes()) for _ in range(BATCH)],), {}),
        rounds=60,
        warmup_rounds=3,
    )
    exported = str(dict(results[-1].attributes))
    assert "dozjgNryP4J3jVm" not in exported  # both catch the bearer token (key rule)
    if name == "otel_errors":  # logfire leaves the query token, e-mail and card number
        for secret in ("session_token=[A-Za-z0-9]", "@example.com", "card 4"):
            assert re.search(secret, exported) is None, exported


def test_clean_short_values(benchmark, redact):
    name, function = redact
    benchmark.group = "g. redaction, span of 10 short clean values (fast path)"
    benchmark.name = name
    benchmark.extra_info["per_call"] = BATCH
    benchmark(function, [_span(CLEAN_ATTRIBUTES) for _ in range(BATCH)])


def _login(attempt: int) -> None:
    _check_password(attempt)


def _check_password(attempt: int) -> None:
    user = "".join(random.Random(attempt).choices(string.ascii_lowercase, k=8))  # noqa: S311
    message = (
        f"login failed for {user}@example.com with password=Hunter{attempt}!x (attempt {attempt})"
    )
    raise PermissionError(message)


def _failed_span() -> ReadableSpan:
    """A login that failed: the event's message and stack trace differ per attempt."""
    n = next(_ROUNDS)
    try:
        _login(n)
    except PermissionError as error:
        event = Event(
            "exception",
            {
                "exception.type": "PermissionError",
                "exception.message": str(error),
                "exception.stacktrace": "".join(traceback.format_exception(error)),
                "exception.escaped": "False",
            },
        )
    return ReadableSpan(
        name="POST /login",
        context=CONTEXT,
        resource=RESOURCE,
        attributes={
            "http.request.method": "POST",
            "http.route": "/login",
            "url.full": f"https://shop.example.com/login?attempt={n}",
            "http.response.status_code": 403,
        },
        events=(event,),
        kind=SpanKind.SERVER,
        start_time=1,
        end_time=2,
    )


def test_span_with_exception_event(benchmark, redact):
    name, function = redact
    benchmark.group = "h. redaction, failed span: exception message + stack trace"
    benchmark.name = name
    benchmark.extra_info["per_call"] = BATCH
    results = benchmark.pedantic(
        function,
        setup=lambda: (([_failed_span() for _ in range(BATCH)],), {}),
        rounds=60,
        warmup_rounds=3,
    )
    exported = str(dict(results[-1].events[0].attributes))
    if name == "otel_errors":  # logfire exports both in clear
        assert "@example.com" not in exported, exported
        assert "Hunter" not in exported, exported


BATCHES = 30
SMOKE_BATCHES = 1
CASES: dict[str, tuple[str, Callable[[], ReadableSpan]]] = {
    "f": ("span with 10 string attributes (4 secrets)", lambda: _span(_secret_attributes())),
    "g": ("span of 10 short clean values", lambda: _span(CLEAN_ATTRIBUTES)),
    "h": ("failed span: exception message + stack trace", _failed_span),
}
TARGETS = {"f": "<= 0.35", "g": "< 5 us", "h": "none"}


def _cpu_per_span(redact: Redact, spans: list[ReadableSpan]) -> float:
    gc.disable()
    try:
        start = time.process_time()
        redact(spans)
        return (time.process_time() - start) / len(spans)
    finally:
        gc.enable()


def interleaved(make_span: Callable[[], ReadableSpan], batches: int) -> dict[str, list[float]]:
    """Each side's CPU per span, batch by batch of fresh spans, taking turns."""
    sides = {side: _redact_with(side) for side in ("logfire", "otel_errors")}
    samples: dict[str, list[float]] = {side: [] for side in sides}
    for batch in range(-1, batches):  # one warm-up batch
        for side in sides if batch % 2 == 0 else list(sides)[::-1]:
            cost = _cpu_per_span(sides[side], [make_span() for _ in range(BATCH)])
            if batch >= 0:
                samples[side].append(cost)
    return samples


@pytest.mark.parametrize("case", list(CASES))
def test_redaction_cpu_interleaved(benchmark, case, summary_lines):
    pytest.importorskip("logfire")
    measuring = not benchmark.disabled
    batches = (
        int(os.environ.get("OTEL_ERRORS_BENCH_ROUNDS", BATCHES)) if measuring else SMOKE_BATCHES
    )
    title, make_span = CASES[case]
    benchmark.group = f"{case}. redaction, CPU per span, sides interleaved"
    benchmark.name = "both sides, interleaved"
    samples = benchmark.pedantic(interleaved, args=(make_span, batches), rounds=1, iterations=1)
    logfire, ours = samples["logfire"], samples["otel_errors"]
    assert all(cpu > 0 for cpu in logfire + ours)
    engine = "compiled (mypyc)" if compiled() else "pure Python"
    summary_lines.append(
        f"{case}. redaction, {title}, engine {engine}: "
        f"{batches} interleaved batches of {BATCH} spans a side: "
        f"logfire {statistics.median(logfire) * 1e6:.2f} us/span, "
        f"otel_errors {statistics.median(ours) * 1e6:.2f} us/span; "
        f"{ratios(logfire, ours)} (target {TARGETS[case]})"
    )
