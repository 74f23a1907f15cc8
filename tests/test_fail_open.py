"""Fail open: our failures never reach the application and never go unnoticed."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from otel_errors._internal.helpers import fail_open
from otel_errors._internal.recording.runtime import get_recorder


@pytest.fixture
def broken_recorder(monkeypatch):
    recorder = get_recorder()

    def explode(*args, **kwargs):
        raise RuntimeError("recorder bug")

    monkeypatch.setattr(recorder, "record", explode)
    monkeypatch.setattr(fail_open, "_logged", set())
    return recorder


def test_recorder_failure_falls_back_to_the_sdk(
    spans, tracer, broken_recorder, caplog, metric_points
):
    """The SDK's own recording still happens, the failure is counted and logged once."""

    def _failures(component: str) -> float:
        points = metric_points("otel_errors.internal_failures")
        return sum(v for a, v in points if a == {"component": component})

    before = _failures("record_exception")
    for _ in range(3):
        with pytest.raises(KeyError), tracer.start_as_current_span("work"):
            raise KeyError("k")
    events = spans.exception_events()
    assert len(events) == 3
    assert events[0]["exception.type"] == "KeyError"
    assert "error.code" not in events[0]
    assert _failures("record_exception") - before == 3
    assert caplog.text.count("internal failure in record_exception") == 1


def test_application_sees_its_own_exception_unchanged(tracer, broken_recorder):
    """Whatever fails inside otel_errors, the application's exception object propagates."""
    original = ValueError("mine")
    with pytest.raises(ValueError, match="mine") as info, tracer.start_as_current_span("work"):
        raise original
    assert info.value is original


def test_exception_during_interpreter_shutdown(tmp_path):
    """Recording from an atexit hook, while the interpreter winds down, does not crash."""
    script = tmp_path / "shutdown.py"
    script.write_text(
        textwrap.dedent(
            """
            import atexit
            from opentelemetry import trace

            def late():
                tracer = trace.get_tracer("late")
                try:
                    with tracer.start_as_current_span("late-work"):
                        raise TimeoutError("during shutdown")
                except TimeoutError:
                    print("app handled it")

            atexit.register(late)  # runs after the providers shut down

            import otel_errors

            otel_errors.configure(local_dir={data!r})
            atexit.register(late)  # runs before they shut down
            """
        ).format(data=str(tmp_path / "data"))
    )
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("app handled it") == 2
    assert "Traceback" not in result.stderr
