"""The handling API: handle() as decorator and context manager, and record_error()."""

from __future__ import annotations

import asyncio

import pytest
from opentelemetry.trace import StatusCode

import otel_errors
from otel_errors import AppError, handle, record_error


class NotFound(AppError, code="GEN-003"):
    """Translation target."""


def test_decorator_returns_the_fallback_and_records_handled(spans, tracer):
    """A matching exception is recorded as handled and the fallback is returned."""

    @handle(ConnectionError, fallback=[])
    def recommendations() -> list[str]:
        raise ConnectionRefusedError("recommender down")

    with tracer.start_as_current_span("request"):
        assert recommendations() == []
    event = spans.only_exception()
    assert event["error.handled"] is True
    assert event["error.code"] == "NET-001"
    request = spans.named("request")
    assert request.status.status_code is StatusCode.UNSET
    assert "error.type" not in request.attributes


def test_decorator_preserves_results_and_metadata():
    """On success the result is unchanged and the function keeps its name."""

    @handle(fallback=0)
    def add(a: int, b: int) -> int:
        """Adds."""
        return a + b

    assert add(2, 3) == 5
    assert add.__name__ == "add"
    assert add.__doc__ == "Adds."


def test_async_decorator(spans, tracer):
    """Coroutine functions are handled the same way."""

    @handle(TimeoutError, fallback="cached")
    async def fetch() -> str:
        await asyncio.sleep(0)
        raise TimeoutError

    async def main() -> str:
        with tracer.start_as_current_span("request"):
            return await fetch()

    assert asyncio.run(main()) == "cached"
    assert spans.only_exception()["error.code"] == "GEN-001"


def test_non_matching_exceptions_pass_through_untouched(spans, tracer):
    """Other exceptions propagate as they are, recorded only by the span that ends."""

    @handle(ConnectionError)
    def broken() -> None:
        raise KeyError("k")

    with pytest.raises(KeyError), tracer.start_as_current_span("request"):
        broken()
    event = spans.only_exception()
    assert event["error.handled"] is False


def test_reraise_records_once_as_unhandled(spans, tracer):
    """Re-raised errors are recorded where handled and not again by outer spans."""

    @handle(ValueError, reraise=True)
    def parse() -> None:
        raise ValueError("bad")

    with (
        pytest.raises(ValueError, match="bad"),
        tracer.start_as_current_span("outer"),
        tracer.start_as_current_span("inner"),
    ):
        parse()
    event = spans.only_exception()
    assert event["error.handled"] is False
    assert spans.named("outer").attributes["error.type"] == "VAL-001"


def test_translate_raises_the_app_error_from_the_original(spans, tracer):
    """translate= raises the AppError chained to the original; one event, its code."""
    with pytest.raises(NotFound) as info, tracer.start_as_current_span("request"):
        with handle(KeyError, translate=NotFound):
            {}["order-1"]
    assert isinstance(info.value.__cause__, KeyError)
    event = spans.only_exception()
    assert event["error.code"] == "GEN-003"
    assert "KeyError: 'order-1'" in str(event["exception.stacktrace"])


def test_context_manager_suppresses_and_records(spans, tracer):
    """With handle(...) suppresses the matching exception and records it as handled."""
    with tracer.start_as_current_span("request"), handle(KeyError):
        {}["x"]
    assert spans.only_exception()["error.handled"] is True


def test_async_context_manager(spans, tracer):
    """Async with handle(...) behaves like the sync form."""

    async def main() -> None:
        with tracer.start_as_current_span("request"):
            async with handle(ValueError):
                raise ValueError("x")

    asyncio.run(main())
    assert spans.only_exception()["error.code"] == "VAL-001"


def test_contradicting_options_are_refused():
    """Reraise with translate, or a non-exception class, fail at declaration."""
    with pytest.raises(TypeError, match="contradict"):
        handle(ValueError, reraise=True, translate=NotFound)
    with pytest.raises(TypeError, match="is not an exception class"):
        handle(int)  # type: ignore[arg-type]


def test_record_error_without_a_span_creates_its_own(spans):
    """With no active span the error is recorded on a short span, never lost."""
    entry = record_error(TimeoutError("slow"))
    assert entry.code == "GEN-001"
    span = spans.named("otel_errors.record_error")
    assert span.events[0].attributes["error.code"] == "GEN-001"


def test_record_error_unhandled_sets_status(spans, tracer):
    """handled=False marks the span failed with the code and title, not the raw message."""
    with tracer.start_as_current_span("job"):
        record_error(PermissionError("token=abc123 rejected"), handled=False)
    span = spans.named("job")
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "GEN-002: Permission denied"
    assert span.attributes["error.type"] == "GEN-002"


def test_record_error_with_forced_code_and_attributes(spans, tracer):
    """code= and attributes= are applied."""
    with tracer.start_as_current_span("job"):
        record_error(ValueError("x"), code="GEN-001", attributes={"job.id": 7})
    event = spans.only_exception()
    assert event["error.code"] == "GEN-001"
    assert event["job.id"] == 7


def test_record_error_never_raises(monkeypatch):
    """An internal failure is counted and logged; the caller gets UNKNOWN."""
    from otel_errors._internal.recording import handling

    def explode() -> None:
        raise RuntimeError("internal bug")

    monkeypatch.setattr(handling, "get_recorder", explode)
    assert record_error(ValueError("x")).code == "UNKNOWN"


def test_handle_keeps_user_intent_when_recording_fails(monkeypatch):
    """Even when recording breaks, the fallback is returned and nothing leaks."""
    from otel_errors._internal.recording import handling

    def explode() -> None:
        raise RuntimeError("internal bug")

    monkeypatch.setattr(handling, "get_recorder", explode)

    @otel_errors.handle(ValueError, fallback=-1)
    def parse() -> int:
        raise ValueError("x")

    assert parse() == -1


def test_already_recorded_error_gets_no_span_of_its_own(spans, tracer):
    """An outer last-resort handler seeing a recorded error after its span ended adds nothing."""
    try:
        with tracer.start_as_current_span("request"):
            raise TimeoutError
    except TimeoutError as exc:
        assert record_error(exc, handled=False).code == "GEN-001"
    assert [s.name for s in spans.all()] == ["request"]
    assert len(spans.exception_events()) == 1
