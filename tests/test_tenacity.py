"""tenacity: attempts as span events, the ``retries`` counter, give-ups with the last code.

The retried operations are real: connections refused by a socket bound on 127.0.0.1
that never listens, and plain functions failing on purpose. tenacity's public
``sleep`` parameter replaces the pause between attempts, so no test waits.
"""

from __future__ import annotations

import asyncio
import socket

import pytest
import tenacity
from opentelemetry.trace import StatusCode
from tenacity import (
    AsyncRetrying,
    RetryError,
    Retrying,
    retry_if_exception_type,
    retry_if_result,
    stop_after_attempt,
    wait_fixed,
)

import otel_errors
from otel_errors.integrations.tenacity import instrumentor as tenacity_instrumentation
from otel_errors.integrations.tenacity.instrumentor import TenacityErrorsInstrumentor


def _no_sleep(_seconds: float) -> None:
    """Replaces tenacity's pause between attempts."""


async def _no_async_sleep(_seconds: float) -> None:
    """Replaces AsyncRetrying's pause between attempts."""


@pytest.fixture
def instrumented():
    instrumentor = TenacityErrorsInstrumentor()
    instrumentor.instrument()
    yield instrumentor
    instrumentor.uninstrument()


@pytest.fixture
def refused_port():
    """A port on 127.0.0.1 that is bound but never listens: connecting is refused."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    yield sock.getsockname()[1]
    sock.close()


def _attempts(span) -> list[dict]:
    return [dict(e.attributes) for e in span.events if e.name == "retry.attempt"]


def _exceptions(span) -> list[dict]:
    return [dict(e.attributes) for e in span.events if e.name == "exception"]


def _failing(*failures: BaseException, result: object = "ok"):
    """A function raising each of ``failures`` in turn, then returning ``result``."""
    pending = list(failures)

    def call() -> object:
        if pending:
            raise pending.pop(0)
        return result

    return call


def test_each_attempt_is_an_event_and_the_give_up_carries_the_last_code(
    instrumented, spans, tracer, refused_port
):
    """Refused connections: one event per attempt; RetryError is recorded as NET-001."""

    @tenacity.retry(stop=stop_after_attempt(3), wait=wait_fixed(0.25), sleep=_no_sleep)
    def connect() -> None:
        socket.create_connection(("127.0.0.1", refused_port), timeout=5).close()

    with pytest.raises(RetryError) as raised, tracer.start_as_current_span("job"):
        connect()
    assert isinstance(raised.value.last_attempt.exception(), ConnectionRefusedError)
    job = spans.named("job")
    function = f"{__name__}.{connect.__qualname__}"
    assert _attempts(job) == [
        {
            "retry.attempt.number": 1,
            "retry.outcome": "retry",
            "retry.wait": 0.25,
            "code.function": function,
            "exception.type": "ConnectionRefusedError",
            "error.code": "NET-001",
        },
        {
            "retry.attempt.number": 2,
            "retry.outcome": "retry",
            "retry.wait": 0.25,
            "code.function": function,
            "exception.type": "ConnectionRefusedError",
            "error.code": "NET-001",
        },
        {
            "retry.attempt.number": 3,
            "retry.outcome": "give_up",
            "code.function": function,
            "exception.type": "ConnectionRefusedError",
            "error.code": "NET-001",
        },
    ]
    (exception,) = _exceptions(job)
    assert exception["exception.type"] == "tenacity.RetryError"
    assert (exception["error.code"], exception["error.retryable"]) == ("NET-001", True)
    assert job.status.status_code is StatusCode.ERROR


def test_the_retries_counter_counts_each_attempt_by_function_code_and_outcome(
    instrumented, tracer, metric_points
):
    """The counter gets one point per event, labelled by function, error code and outcome."""
    call = _failing(TimeoutError("slow"), TimeoutError("slow"), ConnectionResetError("reset"))
    retrying = Retrying(stop=stop_after_attempt(5), sleep=_no_sleep)
    assert retrying(call) == "ok"
    function = f"{__name__}._failing.<locals>.call"
    points = sorted(
        (a["retry.outcome"], a.get("error.code"), v)
        for a, v in metric_points("retries")
        if a.get("code.function") == function
    )
    assert points == [("retry", "GEN-001", 2), ("retry", "NET-002", 1), ("success", None, 1)]


def test_a_recovered_call_returns_its_result_and_ends_with_a_success_event(
    instrumented, spans, tracer
):
    """After two failures the result is returned unchanged; the last event says success."""
    value = object()
    retrying = Retrying(stop=stop_after_attempt(5), sleep=_no_sleep)
    with tracer.start_as_current_span("job"):
        assert retrying(_failing(TimeoutError(), TimeoutError(), result=value)) is value
    job = spans.named("job")
    assert [a["retry.outcome"] for a in _attempts(job)] == ["retry", "retry", "success"]
    assert "error.code" not in _attempts(job)[-1]
    assert job.status.status_code is StatusCode.UNSET
    assert _exceptions(job) == []


def test_calls_that_never_retry_emit_nothing(instrumented, spans, tracer, metric_points):
    """A first-attempt success, or an error the policy does not retry, adds no event."""
    retrying = Retrying(retry=retry_if_exception_type(TimeoutError), sleep=_no_sleep)

    def lookup() -> None:
        raise KeyError("absent")

    with tracer.start_as_current_span("job"):
        assert retrying(lambda: 42) == 42
        with pytest.raises(KeyError, match="absent"):
            retrying(lookup)
    assert _attempts(spans.named("job")) == []
    assert not [a for a, _ in metric_points("retries") if "lookup" in a.get("code.function", "")]


def test_reraise_gives_up_with_the_last_exception_itself(instrumented, spans, tracer):
    """With reraise=True the last exception reaches the application unchanged, once recorded."""
    last = TimeoutError("still slow")
    retrying = Retrying(stop=stop_after_attempt(2), reraise=True, sleep=_no_sleep)
    with pytest.raises(TimeoutError) as raised, tracer.start_as_current_span("job"):
        retrying(_failing(TimeoutError("slow"), last))
    assert raised.value is last
    job = spans.named("job")
    assert [a["retry.outcome"] for a in _attempts(job)] == ["retry", "give_up"]
    (exception,) = _exceptions(job)
    assert (exception["exception.type"], exception["error.code"]) == ("TimeoutError", "GEN-001")


def test_an_error_the_policy_does_not_retry_ends_the_call(instrumented, spans, tracer):
    """After a retry, an error outside the policy is passed on as it is, outcome error."""
    bad = ValueError("bad input")
    retrying = Retrying(retry=retry_if_exception_type(TimeoutError), sleep=_no_sleep)
    with pytest.raises(ValueError, match="bad input") as raised, tracer.start_as_current_span("j"):
        retrying(_failing(TimeoutError(), bad))
    assert raised.value is bad
    attempts = _attempts(spans.named("j"))
    assert [(a["retry.outcome"], a["error.code"]) for a in attempts] == [
        ("retry", "GEN-001"),
        ("error", "VAL-001"),
    ]


def test_a_retry_error_callback_gives_up_with_its_value(instrumented, spans, tracer):
    """retry_error_callback's return value is the result; the last event says give_up."""
    retrying = Retrying(
        stop=stop_after_attempt(2),
        retry_error_callback=lambda state: "fallback",
        sleep=_no_sleep,
    )
    with tracer.start_as_current_span("job"):
        assert retrying(_failing(TimeoutError(), TimeoutError())) == "fallback"
    attempts = _attempts(spans.named("job"))
    assert [a["retry.outcome"] for a in attempts] == ["retry", "give_up"]


def test_rejected_results_give_up_with_res_002(instrumented, spans, tracer):
    """Retrying on results: events carry no error code; RetryError is RES-002."""
    retrying = Retrying(
        retry=retry_if_result(lambda value: value is None),
        stop=stop_after_attempt(2),
        sleep=_no_sleep,
    )
    with pytest.raises(RetryError), tracer.start_as_current_span("job"):
        retrying(lambda: None)
    job = spans.named("job")
    assert [(a["retry.outcome"], a.get("error.code")) for a in _attempts(job)] == [
        ("retry", None),
        ("give_up", None),
    ]
    (exception,) = _exceptions(job)
    assert exception["error.code"] == "RES-002"


def test_async_retrying_emits_the_same_events(instrumented, spans, tracer):
    """AsyncRetrying (call and async for) reports attempts like the synchronous styles."""

    async def main() -> list[object]:
        results = []
        with tracer.start_as_current_span("job"):
            call = _failing(ConnectionRefusedError(), result="called")

            async def fetch() -> object:
                return call()

            retrying = AsyncRetrying(stop=stop_after_attempt(3), sleep=_no_async_sleep)
            results.append(await retrying(fetch))
            iterated = _failing(TimeoutError(), result="iterated")
            async for attempt in AsyncRetrying(stop=stop_after_attempt(3), sleep=_no_async_sleep):
                with attempt:
                    results.append(iterated())
        return results

    assert asyncio.run(main()) == ["called", "iterated"]
    attempts = _attempts(spans.named("job"))
    assert [(a["retry.outcome"], a.get("error.code")) for a in attempts] == [
        ("retry", "NET-001"),
        ("success", None),
        ("retry", "GEN-001"),
        ("success", None),
    ]
    assert attempts[0]["code.function"].endswith("main.<locals>.fetch")
    assert "code.function" not in attempts[2]


def test_the_iterator_style_is_observed(instrumented, spans, tracer):
    """``for attempt in Retrying()`` blocks report their attempts too."""
    call = _failing(TimeoutError())
    with tracer.start_as_current_span("job"):
        for attempt in Retrying(stop=stop_after_attempt(3), sleep=_no_sleep):
            with attempt:
                call()
    outcomes = [a["retry.outcome"] for a in _attempts(spans.named("job"))]
    assert outcomes == ["retry", "success"]


def test_handle_falls_back_after_the_retries_and_records_the_last_code_once(
    instrumented, spans, tracer, refused_port
):
    """handle() around a retried call: the fallback is returned, the error recorded handled."""

    @otel_errors.handle(RetryError, fallback=[])
    @tenacity.retry(stop=stop_after_attempt(2), sleep=_no_sleep)
    def recommendations() -> list[str]:
        socket.create_connection(("127.0.0.1", refused_port), timeout=5).close()
        return ["unreachable"]

    with tracer.start_as_current_span("request"):
        assert recommendations() == []
    request = spans.named("request")
    assert request.status.status_code is StatusCode.UNSET
    (exception,) = _exceptions(request)
    assert (exception["error.code"], exception["error.handled"]) == ("NET-001", True)
    assert [a["retry.outcome"] for a in _attempts(request)] == ["retry", "give_up"]


def test_retry_error_takes_the_last_code_without_the_instrumentor():
    """Classification of RetryError needs no instrumentor: last error's code, else RES-002."""
    retrying = Retrying(stop=stop_after_attempt(2), sleep=_no_sleep)
    with pytest.raises(RetryError) as refused:
        retrying(_failing(ConnectionRefusedError(), ConnectionRefusedError()))
    assert otel_errors.classify(refused.value).code == "NET-001"

    class Unclassified(Exception):
        pass

    with pytest.raises(RetryError) as unknown:
        retrying(_failing(Unclassified(), Unclassified()))
    assert otel_errors.classify(unknown.value).code == "RES-002"


def test_uninstrument_restores_the_original_methods(spans, tracer):
    """After uninstrument tenacity's own iter methods are back, and no events are added."""
    originals = (vars(tenacity.BaseRetrying)["iter"], vars(tenacity.AsyncRetrying)["iter"])
    instrumentor = TenacityErrorsInstrumentor()
    instrumentor.instrument()
    assert vars(tenacity.BaseRetrying)["iter"] is not originals[0]
    instrumentor.uninstrument()
    assert (vars(tenacity.BaseRetrying)["iter"], vars(tenacity.AsyncRetrying)["iter"]) == originals
    with tracer.start_as_current_span("job"):
        Retrying(sleep=_no_sleep)(_failing(TimeoutError()))
    assert _attempts(spans.named("job")) == []


def test_a_failure_in_the_instrumentor_never_reaches_the_application(
    instrumented, spans, tracer, monkeypatch, metric_points
):
    """When observing an attempt fails, tenacity's results and exceptions are unchanged."""

    def broken() -> None:
        raise RuntimeError("recorder exploded")

    monkeypatch.setattr(tenacity_instrumentation, "get_recorder", broken)
    retrying = Retrying(stop=stop_after_attempt(3), sleep=_no_sleep)
    with tracer.start_as_current_span("job"):
        assert retrying(_failing(TimeoutError(), result="ok")) == "ok"
        with pytest.raises(RetryError):
            retrying(_failing(TimeoutError(), TimeoutError(), TimeoutError()))
    failures = [a for a, _ in metric_points("otel_errors.internal_failures")]
    assert {"component": "tenacity"} in failures
