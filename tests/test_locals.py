"""The failing frames' variables (``error.locals``): opt-in, bounded, redacted, rare in storms."""

from __future__ import annotations

import gc
import json
import logging
import os
import subprocess
import sys
import textwrap
import time
import weakref
from pathlib import Path

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from otel_errors._internal import names
from otel_errors._internal.export.local import LocalSpanExporter
from otel_errors._internal.recording import frame_locals, runtime
from otel_errors._internal.recording.frame_locals import LocalsCapture
from otel_errors._internal.recording.log_fields import structure
from otel_errors._internal.tooling.cli import main

BIN = Path(sys.executable).parent
AWS_KEY = "AKIA2OGYBAH6STMMNXNN"
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
    "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
)
CARD = 4111111111111111


def _fail(tracer, function, *args: object) -> dict[str, object]:
    with pytest.raises(Exception), tracer.start_as_current_span("work"):  # noqa: B017
        function(*args)
    return {}


def _locals_of(spans) -> list[dict[str, object]]:
    events = spans.exception_events()
    assert len(events) == 1
    text = events[0][names.ERROR_LOCALS]
    assert isinstance(text, str)
    return json.loads(text)


def _innermost(spans) -> dict[str, str]:
    return _locals_of(spans)[0]["locals"]  # type: ignore[return-value]


def test_off_by_default(spans, tracer, use_settings):
    """With the default settings no event carries ``error.locals``."""
    use_settings()

    def charge(password: str) -> None:
        raise ValueError(password[:0])

    _fail(tracer, charge, "hunter2")
    assert names.ERROR_LOCALS not in spans.exception_events()[0]


def test_innermost_application_frames_with_their_variables(spans, tracer, use_settings):
    """Innermost first, each frame named as in the fingerprint, with its line and variables."""
    use_settings(capture_locals=True)

    def inner(order_id: int) -> None:
        quantity = 3
        raise KeyError(order_id + quantity)

    def outer() -> None:
        customer = "ada"
        inner(42)
        print(customer)

    _fail(tracer, outer)
    frames = _locals_of(spans)
    assert frames[0]["function"].endswith("inner")  # type: ignore[union-attr]
    assert frames[0]["locals"] == {"order_id": "42", "quantity": "3"}
    assert frames[1]["locals"] == {"customer": "'ada'"}
    assert isinstance(frames[0]["line"], int)
    assert len(frames) <= frame_locals.MAX_FRAMES


def test_hostile_reprs_never_run(spans, tracer, use_settings):
    """Raising, slow and recursive ``__repr__``s and properties are never called."""
    use_settings(capture_locals=True)
    called: list[str] = []

    class Raising:
        def __repr__(self) -> str:
            called.append("raising")
            raise RuntimeError

    class Slow:
        def __repr__(self) -> str:
            called.append("slow")
            time.sleep(5)
            return "slow"

        @property
        def value(self) -> int:
            called.append("property")
            return 1

    class Meta(type):
        def __getattribute__(cls, name: str) -> object:
            called.append("metaclass")
            return super().__getattribute__(name)

    class Odd(metaclass=Meta):
        pass

    class MyStr(str):
        __slots__ = ()

        def __repr__(self) -> str:
            called.append("str subclass")
            return "x"

    def fail() -> None:
        raising, slow, odd, sub = Raising(), Slow(), Odd(), MyStr("s")
        recursive: list[object] = []
        recursive.append(recursive)
        raise ValueError((raising, slow, odd, sub, recursive)[:0])

    started = time.perf_counter()
    called.clear()
    _fail(tracer, fail)
    assert time.perf_counter() - started < 1
    variables = _innermost(spans)
    assert called == []
    assert variables["raising"].endswith("Raising object>")
    assert variables["slow"].endswith("Slow object>")
    assert variables["sub"].endswith("MyStr object>")
    assert variables["recursive"] == "[[[[...]]]]"


def test_a_failing_rendering_is_a_placeholder():
    """A dict changed while it is rendered (another thread) gives a placeholder, not an error."""
    real = runtime.current().redactor
    shared = {"a": "x", "b": "y"}

    class MutatingRedactor:  # stands in for a thread writing to ``shared`` meanwhile
        def text_into(self, text: str, fired: list[str]) -> str:
            shared[f"new {len(shared)}"] = text
            return real.text_into(text, fired)

        def redact_value(self, key: str, value: object) -> tuple[object, tuple[str, ...]]:
            return real.redact_value(key, value)

    text = frame_locals.render(
        [("m:f", 1, {"shared": shared, "after": 3})],
        MutatingRedactor(),  # type: ignore[arg-type]
    )
    variables = json.loads(text)[0]["locals"]
    assert variables == {"shared": "<repr failed: RuntimeError>", "after": "3"}


def test_objects_inside_built_in_containers_are_named_only():
    """A built-in container's user-defined items and keys are named, their code never run."""

    class Exploding:
        def __eq__(self, other: object) -> bool:
            raise RuntimeError

        def __repr__(self) -> str:
            raise RuntimeError

        __hash__ = object.__hash__

    class MyDict(dict):
        pass

    redactor = runtime.current().redactor
    value = {Exploding(): [Exploding()], "d": MyDict()}
    text = frame_locals.render([("m:f", 1, {"value": value})], redactor)
    rendered = json.loads(text)[0]["locals"]["value"]
    assert rendered.startswith("{<")
    assert "Exploding object>: [<" in rendered
    assert "'d': <test_locals." in rendered


def test_a_forked_child_starts_its_own_window(use_settings):
    """``Runtime.after_fork`` forgets the parent's captures: a worker captures its own first."""
    use_settings(capture_locals=True)
    installed = runtime.current()
    assert installed.frame_locals.due("fp")
    assert not installed.frame_locals.due("fp")
    installed.after_fork()
    assert installed.frame_locals.due("fp")


def test_large_and_nested_values_are_bounded(spans, tracer, use_settings):
    """Huge strings, bytes, ints, deep and wide containers: each value and the whole are bounded."""
    use_settings(capture_locals=True)

    def fail() -> None:
        variables = {f"v{i}": "x" * 100_000 for i in range(200)}
        big = "y" * 10_000_000
        blob = b"z" * 1_000_000
        huge = 10**20000
        deep: list[object] = [[[[[[["bottom"]]]]]]]
        wide = dict.fromkeys(range(1_000_000), 0)
        locals().update(variables)
        raise ValueError((big, blob, huge, deep, wide)[:0])

    started = time.perf_counter()
    _fail(tracer, fail)
    elapsed = time.perf_counter() - started
    text = str(spans.exception_events()[0][names.ERROR_LOCALS])
    assert len(text.encode()) <= frame_locals.MAX_BYTES
    variables = _innermost(spans)
    assert all(len(value) <= frame_locals.MAX_VALUE_CHARS for value in variables.values())
    assert variables["huge"] == "<int of 66439 bits>"
    assert variables["big"].endswith("…[10000000 chars]")
    assert variables["blob"].startswith("b'zzz")
    assert "bottom" not in variables["deep"]
    assert variables["wide"].endswith(", ...}")
    assert elapsed < 2  # no sort of a million keys, no full repr of 10 MB


def test_secrets_in_names_and_values_are_redacted(spans, tracer, use_settings):
    """Secret names mask whole values of any type and size; secret values are found anywhere."""
    use_settings(capture_locals=True)

    def fail() -> None:
        password = "hunter2"  # noqa: S105 - the secret to hide
        api_key = "k" * 50_000
        db_password = 123456
        x = AWS_KEY
        token_like = JWT
        card = CARD
        long_text = "a " * 75 + AWS_KEY  # straddles the cut of a rendered string
        config = {"db": {"password": "s3cr3t", "pin": 98765, "host": "db.local"}}
        raise ValueError(
            (password, api_key, db_password, x, token_like, card, long_text, config)[:0]
        )

    _fail(tracer, fail)
    variables = _innermost(spans)
    text = str(spans.exception_events()[0][names.ERROR_LOCALS])
    for secret in ("hunter2", "kkkk", "123456", "AKIA", JWT[:20], str(CARD), "s3cr3t", "98765"):
        assert secret not in text, secret
    masked = "[REDACTED:secret_key]"
    assert variables["password"] == masked
    assert variables["api_key"] == masked
    assert variables["db_password"] == masked
    assert "REDACTED" in variables["x"]
    assert "REDACTED" in variables["token_like"]
    assert "REDACTED" in variables["card"]
    assert "'host': 'db.local'" in variables["config"]


def test_a_storm_is_captured_once_and_a_new_fingerprint_again(spans, tracer, use_settings):
    """1000 identical failures carry variables once; another failure location gets its own."""
    use_settings(capture_locals=True)

    def fail(i: int) -> None:
        raise ValueError(i)

    def other() -> None:
        raise KeyError("other")

    for i in range(1000):
        _fail(tracer, fail, i)
    _fail(tracer, other)
    events = spans.exception_events()
    assert len(events) == 1001
    with_locals = [e for e in events if names.ERROR_LOCALS in e]
    assert len(with_locals) == 2
    assert json.loads(str(with_locals[0][names.ERROR_LOCALS]))[0]["locals"] == {"i": "0"}
    assert "other" in json.loads(str(with_locals[1][names.ERROR_LOCALS]))[0]["function"]


def test_the_window_and_the_global_budget():
    """A fingerprint is due again after the window; distinct ones share a budget per window."""
    now = [0.0]
    capture = LocalsCapture(enabled=True, redactor=lambda: runtime.current().redactor,
                            clock=lambda: now[0])  # fmt: skip
    assert capture.due("a")
    assert not capture.due("a")
    now[0] = frame_locals.WINDOW_SECONDS + 1
    assert capture.due("a")
    due = [capture.due(f"f{i}") for i in range(frame_locals.MAX_CAPTURES_PER_WINDOW * 2)]
    assert sum(due) == frame_locals.MAX_CAPTURES_PER_WINDOW - 1
    capture.after_fork()
    assert capture.due("a")


def test_no_reference_keeps_a_local_alive(spans, tracer, use_settings):
    """Once the failure is handled, a local of the failing frame is freed."""
    use_settings(capture_locals=True)

    class Payload:
        pass

    ref: list[weakref.ref[Payload]] = []

    def fail() -> None:
        payload = Payload()
        ref.append(weakref.ref(payload))
        raise ValueError

    _fail(tracer, fail)
    assert names.ERROR_LOCALS in spans.exception_events()[0]
    gc.collect()
    assert ref[0]() is None


def test_a_log_line_does_not_use_up_the_capture(spans, tracer, use_settings):
    """A logged exception's JSON line and log attributes come first; the event still has them."""
    recorder = use_settings(capture_locals=True)

    def fail() -> None:
        quantity = 7
        raise ValueError(quantity)

    with tracer.start_as_current_span("work") as span:
        try:
            fail()
        except ValueError as exc:
            record = logging.LogRecord("app", logging.ERROR, __file__, 1, "boom", (), None)
            record.exc_info = (type(exc), exc, exc.__traceback__)
            assert structure(record, {}).fields["stack_trace"]
            attributes, _ = recorder.attributes(exc, handled=True, with_locals=False)
            assert names.ERROR_LOCALS not in attributes
            span.record_exception(exc)
    assert _innermost(spans) == {"quantity": "7"}


def test_a_capture_failure_leaves_the_event(spans, tracer, use_settings, monkeypatch):
    """Fail open: an internal error in the capture drops only ``error.locals``."""
    use_settings(capture_locals=True)

    def broken(*_: object) -> str:
        raise RuntimeError("bug")

    monkeypatch.setattr(frame_locals, "render", broken)

    def fail() -> None:
        raise ValueError("x")

    _fail(tracer, fail)
    event = spans.exception_events()[0]
    assert event[names.ERROR_CODE]
    assert names.ERROR_LOCALS not in event


def test_the_report_shows_the_latest_capture_of_each_code(tmp_path, use_settings, capsys):
    """``otel-errors report`` (text, JSON and HTML) shows each code's variables, escaped."""
    use_settings(capture_locals=True)
    provider = TracerProvider(resource=Resource.create({"service.name": "shop"}))
    provider.add_span_processor(SimpleSpanProcessor(LocalSpanExporter(tmp_path)))
    tracer = provider.get_tracer("report-test")

    def lookup(sku: str) -> None:
        raise KeyError(sku)

    for sku in ("<b>sku-1</b>", "sku-2"):
        _fail(tracer, lookup, sku)

    assert main(["report", "--dir", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "Variables of the failing frames" in text
    assert "lookup line" in text
    assert "sku = '<b>sku-1</b>'" in text  # the first occurrence; the second is not captured
    assert main(["report", "--dir", str(tmp_path), "--json"]) == 0
    error = json.loads(capsys.readouterr().out)["errors"][0]
    assert error["example_locals"][0]["locals"] == {"sku": "'<b>sku-1</b>'"}
    page = tmp_path / "report.html"
    assert main(["report", "--dir", str(tmp_path), "--html", str(page)]) == 0
    html = page.read_text()
    assert 'id="locals"' in html
    assert "&#x27;&lt;b&gt;sku-1&lt;/b&gt;&#x27;" in html
    assert "<b>sku-1" not in html


APP = textwrap.dedent("""
    from opentelemetry import trace

    tracer = trace.get_tracer("checkout")
    SECRET = "hunter2"

    def charge(amount, password):
        card_number = "4111 1111 " + "1111 1111"
        raise RuntimeError("declined")

    for _ in range(3):
        try:
            with tracer.start_as_current_span("charge"):
                charge(12, SECRET)
        except RuntimeError:
            pass
""")


@pytest.mark.parametrize("capture", ["true", None])
def test_under_the_launcher_local_files_carry_them(tmp_path, capture):
    """``opentelemetry-instrument`` with the setting writes ``error.locals`` to the local files."""
    script = tmp_path / "app.py"
    script.write_text(APP)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(OTEL_ERRORS_LOCAL_DIR=str(tmp_path / "data"), OTEL_SERVICE_NAME="checkout")
    if capture:
        env["OTEL_ERRORS_CAPTURE_LOCALS"] = capture
    result = subprocess.run(
        [str(BIN / "opentelemetry-instrument"), sys.executable, str(script)],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    text = "".join(p.read_text() for p in (tmp_path / "data").rglob("*span*"))
    assert "hunter2" not in text
    assert "4111 1111" not in text
    if capture:
        assert text.count(names.ERROR_LOCALS) == 1
        assert "amount" in text
        assert "[REDACTED:secret_key]" in text
    else:
        assert names.ERROR_LOCALS not in text
