"""Recording: the DESIGN.md attributes on every exception event, once per trace, bounded."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from otel_errors import AppError

if sys.version_info >= (3, 11):
    from builtins import ExceptionGroup
else:
    from exceptiongroup import ExceptionGroup


def fail_with_key_error() -> None:
    {}["missing"]


EXPECTED_KEYS = {
    "exception.type",
    "exception.message",
    "exception.stacktrace",
    "error.code",
    "error.severity",
    "error.category",
    "error.kind",
    "error.retryable",
    "error.fingerprint",
    "error.fingerprint.version",
    "error.handled",
}


def test_sdk_start_as_current_span_records_our_attributes(spans, tracer):
    """An exception escaping the SDK's own context manager carries every attribute."""
    with pytest.raises(KeyError), tracer.start_as_current_span("work"):
        fail_with_key_error()
    event = spans.only_exception()
    assert set(event) == EXPECTED_KEYS
    assert event["exception.type"] == "KeyError"
    assert event["exception.message"] == "'missing'"
    assert event["error.code"] == "BUG-003"
    assert event["error.severity"] == "P3"
    assert event["error.category"] == "permanent"
    assert event["error.kind"] == "programmer"
    assert event["error.retryable"] is False
    assert event["error.handled"] is False
    assert len(str(event["error.fingerprint"])) == 16
    assert "in fail_with_key_error" in str(event["exception.stacktrace"])
    span = spans.named("work")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "BUG-003"


def test_unclassified_error_type_falls_back_to_the_exception_type(spans, tracer):
    """error.type is the code, or the qualified exception type for UNKNOWN."""

    class Strange(Exception):
        pass

    with pytest.raises(Strange), tracer.start_as_current_span("work"):
        raise Strange
    assert spans.named("work").attributes["error.type"].endswith("Strange")
    assert spans.only_exception()["error.code"] == "UNKNOWN"


def test_same_exception_is_recorded_once_per_trace(spans, tracer):
    """Nested spans that all see the exception produce one event; all get error.type."""
    with (
        pytest.raises(KeyError),
        tracer.start_as_current_span("outer"),
        tracer.start_as_current_span("middle"),
        tracer.start_as_current_span("inner"),
    ):
        fail_with_key_error()
    assert len(spans.exception_events()) == 1
    assert spans.named("inner").events[0].name == "exception"
    for name in ("outer", "middle", "inner"):
        assert spans.named(name).attributes["error.type"] == "BUG-003"


def test_same_exception_object_in_another_trace_is_recorded_again(spans, tracer):
    """The once-per-trace rule is per trace: a re-raised cached exception counts again."""
    cached = ValueError("stale")
    for name in ("first", "second"):
        with pytest.raises(ValueError, match="stale"), tracer.start_as_current_span(name):
            raise cached
    assert len(spans.exception_events()) == 2


def test_app_error_context_is_recorded(spans, tracer):
    """AppError context becomes error.context.* attributes."""

    class Declined(AppError, code="GEN-002"):
        pass

    with pytest.raises(Declined), tracer.start_as_current_span("pay"):
        raise Declined("declined", brand="visa", attempts=3, detail={"a": 1})
    event = spans.only_exception()
    assert event["error.code"] == "GEN-002"
    assert event["error.context.brand"] == "visa"
    assert event["error.context.attempts"] == 3
    assert event["error.context.detail"] == "{'a': 1}"


def test_explicit_attributes_win(spans, tracer):
    """Attributes passed to record_exception override computed ones, as in the SDK."""
    with tracer.start_as_current_span("work") as span:
        span.record_exception(ValueError("x"), attributes={"error.code": "GEN-001", "k": "v"})
    event = spans.only_exception()
    assert event["error.code"] == "GEN-001"
    assert event["k"] == "v"


def test_chained_causes_appear_in_the_stack_trace(spans, tracer):
    """The stack trace shows the cause chain as Python prints it."""
    with pytest.raises(RuntimeError), tracer.start_as_current_span("work"):
        try:
            fail_with_key_error()
        except KeyError as exc:
            raise RuntimeError("lookup failed") from exc
    stack = str(spans.only_exception()["exception.stacktrace"])
    assert "KeyError: 'missing'" in stack
    assert "The above exception was the direct cause of the following exception" in stack
    assert stack.rstrip().endswith("RuntimeError: lookup failed")


def test_message_and_stack_are_truncated_to_the_limits(spans, tracer, use_settings):
    """Megabyte messages and deep stacks are cut to the configured limits."""
    use_settings(max_message_length=100, max_stacktrace_length=1000)

    def recurse(n: int) -> None:
        if n == 0:
            raise ValueError("x" * 1_000_000)
        recurse(n - 1)

    with pytest.raises(ValueError, match="x"), tracer.start_as_current_span("work"):
        recurse(50)
    event = spans.only_exception()
    assert len(str(event["exception.message"])) == 100
    assert "truncated" in str(event["exception.message"])
    stack = str(event["exception.stacktrace"])
    assert len(stack) <= 1000
    assert "truncated" in stack
    assert stack.startswith("Traceback")


def test_unprintable_exception_is_recorded(spans, tracer):
    """An exception whose __str__ and __repr__ raise still gets an event.

    Recorded explicitly: the SDK's own ``use_span`` formats ``f"{exc}"`` for the span
    status after recording, which raises for such an exception whatever we do.
    """

    class Unprintable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no str")

        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    with tracer.start_as_current_span("work") as span:
        try:
            raise Unprintable
        except Unprintable as exc:
            span.record_exception(exc)
    event = spans.only_exception()
    assert str(event["exception.message"]).endswith("Unprintable object>")
    assert "Unprintable" in str(event["exception.stacktrace"])


def test_non_utf8_message_becomes_valid_text(spans, tracer):
    """Lone surrogates from undecodable bytes are escaped so export never fails."""
    bad = b"caf\xe9 \xff".decode("utf-8", "surrogateescape")
    with pytest.raises(ValueError, match="caf"), tracer.start_as_current_span("work"):
        raise ValueError(bad)
    event = spans.only_exception()
    message = str(event["exception.message"])
    message.encode("utf-8")
    assert message == "caf\\udce9 \\udcff"
    str(event["exception.stacktrace"]).encode("utf-8")


def test_cyclic_cause_and_context_chains(spans, tracer):
    """A cycle of causes and contexts is recorded once and terminates."""
    first, second = ValueError("first"), KeyError("second")
    first.__cause__ = second
    second.__context__ = first
    with pytest.raises(ValueError, match="first"), tracer.start_as_current_span("work"):
        raise first
    stack = str(spans.only_exception()["exception.stacktrace"])
    assert stack.count("ValueError: first") == 1


def test_exception_group_event(spans, tracer):
    """A group records the most severe leaf's code and the list of leaf codes."""
    group = ExceptionGroup("batch", [KeyError("a"), MemoryError()])
    with pytest.raises(ExceptionGroup), tracer.start_as_current_span("work"):
        raise group
    event = spans.only_exception()
    assert event["error.code"] == "SYS-001"
    assert event["error.group.codes"] == ("BUG-003", "SYS-001")
    assert "ExceptionGroup" in str(event["exception.stacktrace"])


def _fingerprint_of(source: str, message: str) -> str:
    namespace: dict[str, object] = {}
    exec(compile(source, "/srv/app/orders.py", "exec"), namespace)  # noqa: S102 - test input
    from otel_errors._internal.recording.runtime import get_recorder

    try:
        namespace["place_order"](message)  # type: ignore[operator]
    except ValueError as exc:
        attributes, _ = get_recorder().attributes(exc, handled=False)
        return str(attributes["error.fingerprint"])
    raise AssertionError("did not raise")


ORDER_CODE = """
def validate(message):
    raise ValueError(message)

def place_order(message):
    validate(message)
"""


def test_fingerprint_ignores_line_shifts_and_messages():
    """Moving code down and changing the message keeps the fingerprint."""
    base = _fingerprint_of(ORDER_CODE, "quantity -1")
    shifted = _fingerprint_of("\n\n\n# a comment\n" + ORDER_CODE, "quantity 99999")
    assert base == shifted


def test_fingerprint_changes_with_the_failing_function():
    """A different failure location gives a different fingerprint."""
    other = ORDER_CODE.replace("validate(message)\n", "check(message)\n").replace(
        "def validate", "def check"
    )
    assert _fingerprint_of(ORDER_CODE, "m") != _fingerprint_of(other, "m")


def test_fingerprint_is_stable_across_runs(tmp_path):
    """Two processes with different hash seeds compute the same fingerprint."""
    script = tmp_path / "fp.py"
    script.write_text(
        textwrap.dedent(
            """
            from otel_errors._internal.recording.runtime import get_recorder

            def handler(order_id):
                raise LookupError(f"order {order_id} missing")

            try:
                handler(__import__("random").randint(1, 10**9))
            except LookupError as exc:
                print(get_recorder().attributes(exc, handled=False)[0]["error.fingerprint"])
            """
        )
    )
    outputs = {
        subprocess.run(
            [sys.executable, str(script)],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout.strip()
        for seed in ("1", "2", "3")
    }
    assert len(outputs) == 1
    assert len(outputs.pop()) == 16


def test_error_storm_reuses_the_cached_frames(spans, tracer, use_settings):
    """Repeated failures from one place format the frames once, but each message anew."""
    recorder = use_settings()
    for i in range(20):
        with pytest.raises(ValueError, match="bad"), tracer.start_as_current_span("work"):
            raise ValueError(f"bad {i}")
    events = spans.exception_events()
    assert len(events) == 20
    assert len(recorder.stack._frames) == 1
    assert events[7]["exception.stacktrace"].endswith("ValueError: bad 7\n")
    assert len({e["error.fingerprint"] for e in events}) == 1


def test_non_recording_span_records_nothing(spans, tracer):
    """Recording on a non-recording span is a no-op that still classifies."""
    from opentelemetry.trace import INVALID_SPAN

    from otel_errors._internal.recording.runtime import get_recorder

    entry = get_recorder().record(INVALID_SPAN, TimeoutError(), handled=True)
    assert entry.code == "GEN-001"
    assert spans.all() == []


LIBRARY_SOURCE = """
def call_dependency(tracer):
    # What a contrib client instrumentation does: a span around the library's call,
    # ended inside the library by the exception.
    with tracer.start_as_current_span("client"):
        raise ConnectionRefusedError("dependency down")
"""


def _fake_library():
    """A module whose code lives under site-packages, like a real client library."""
    import sysconfig

    path = f"{sysconfig.get_paths()['purelib']}/fakeclient.py"
    namespace: dict[str, object] = {"__name__": "fakeclient"}
    exec(compile(LIBRARY_SOURCE, path, "exec"), namespace)  # noqa: S102 - test input
    return namespace["call_dependency"]


def _call_site_a(call, tracer) -> None:
    call(tracer)


def _call_site_b(call, tracer) -> None:
    call(tracer)


def test_exceptions_recorded_inside_a_library_name_their_call_site(spans, tracer):
    """Without application frames in the traceback, the caller's frames are added."""
    call = _fake_library()
    for site in (_call_site_a, _call_site_b):
        with pytest.raises(ConnectionRefusedError):
            site(call, tracer)
    events = spans.exception_events()
    stacks = [str(e["exception.stacktrace"]) for e in events]
    assert all("Recorded while called from" in s for s in stacks)
    assert "_call_site_a" in stacks[0]
    assert "_call_site_b" in stacks[1]
    assert events[0]["error.fingerprint"] != events[1]["error.fingerprint"]


def test_the_exception_event_is_held_as_the_sdk_holds_one(spans, tracer):
    """Added without the SDK's second check, the event's attributes are what add_event makes."""
    with pytest.raises(KeyError), tracer.start_as_current_span("work"):
        fail_with_key_error()
    (event,) = spans.named("work").events
    with tracer.start_as_current_span("sdk") as span:
        span.add_event("exception", dict(event.attributes or {}))
    (sdk_event,) = spans.named("sdk").events
    ours, theirs = event.attributes, sdk_event.attributes
    assert type(ours) is type(theirs) is BoundedAttributes
    assert dict(ours) == dict(theirs)
    assert list(ours) == list(theirs)
    assert (ours.maxlen, ours.max_value_len, ours.dropped) == (
        theirs.maxlen,
        theirs.max_value_len,
        theirs.dropped,
    )
    with pytest.raises(TypeError):
        ours["error.code"] = "changed"  # type: ignore[index]


@pytest.mark.parametrize(
    ("limits", "extra"),
    [
        (SpanLimits(max_attribute_length=8), None),
        (SpanLimits(max_event_attributes=3), None),
        (SpanLimits(), {"order.lines": ["a", "b"]}),
    ],
    ids=["value length limit", "attribute count limit", "a sequence value"],
)
def test_the_sdk_still_checks_what_we_did_not_bound(limits, extra):
    """A length or count limit, or a value not plain, goes through the SDK's add_event."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(span_limits=limits)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("t").start_as_current_span("work") as span:
        try:
            fail_with_key_error()
        except KeyError as exc:
            span.record_exception(exc, attributes=extra)
    (event,) = exporter.get_finished_spans()[0].events
    attributes = dict(event.attributes or {})
    if extra is not None:
        assert attributes["order.lines"] == ("a", "b")  # the SDK's tuple
    elif limits.max_attribute_length is not None:
        assert all(len(v) <= 8 for v in attributes.values() if isinstance(v, str))
        assert attributes["exception.type"] == "KeyError"
    else:
        assert len(attributes) == 3
