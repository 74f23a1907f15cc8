"""The fingerprints counter: unhandled errors by fingerprint and scheme, bounded per process."""

from __future__ import annotations

import logging

import pytest

import otel_errors
from otel_errors._internal.recording.fingerprint_metrics import FingerprintMetrics
from otel_errors._internal.recording.stack import FINGERPRINT_VERSION

METRIC = "otel_errors.fingerprints"


def test_an_unhandled_error_counts_under_its_fingerprint_and_scheme(spans, tracer, metric_points):
    """The count carries the event's fingerprint, the scheme version, the code and severity."""
    with pytest.raises(TimeoutError), tracer.start_as_current_span("fingerprint-a"):
        raise TimeoutError
    span = spans.named("fingerprint-a")
    fingerprint = span.events[0].attributes["error.fingerprint"]
    counted = [
        (attributes, value)
        for attributes, value in metric_points(METRIC)
        if attributes["error.fingerprint"] == fingerprint
    ]
    assert counted == [
        (
            {
                "error.fingerprint": fingerprint,
                "error.fingerprint.version": FINGERPRINT_VERSION,
                "error.code": "GEN-001",
                "error.severity": "P3",
            },
            1,
        )
    ]


def test_a_handled_error_is_not_counted(spans, tracer, metric_points):
    """Only unhandled errors are announced as new, like the code alerts that page."""
    with tracer.start_as_current_span("fingerprint-handled"):
        otel_errors.record_error(LookupError("handled"))
    span = spans.named("fingerprint-handled")
    fingerprint = span.events[0].attributes["error.fingerprint"]
    assert all(a["error.fingerprint"] != fingerprint for a, _ in metric_points(METRIC))


def test_fingerprints_past_the_limit_count_as_overflow_with_one_warning(
    spans, tracer, metric_points, caplog
):
    """The first ``limit`` fingerprints are kept; later ones fold into OVERFLOW, code kept."""
    limited = FingerprintMetrics(2)
    with caplog.at_level(logging.WARNING, logger="otel_errors"):
        for i in range(5):
            with tracer.start_as_current_span("bounded") as span:
                limited.count(span, f"{i:016x}", "FPTEST-001", "P2")
    counts = {
        a["error.fingerprint"]: v
        for a, v in metric_points(METRIC)
        if a["error.code"] == "FPTEST-001"
    }
    assert counts == {f"{0:016x}": 1, f"{1:016x}": 1, "OVERFLOW": 3}
    assert len([r for r in caplog.records if "fingerprints counter" in r.getMessage()]) == 1


def test_after_fork_the_bound_starts_afresh(spans, tracer, metric_points):
    """A forked child keeps its own first fingerprints instead of inheriting a full set."""
    limited = FingerprintMetrics(1)
    with tracer.start_as_current_span("fork") as span:
        limited.count(span, "a" * 16, "FPTEST-002", "P2")
        limited.after_fork()
        limited.count(span, "b" * 16, "FPTEST-002", "P2")
    kept = {
        a["error.fingerprint"] for a, _ in metric_points(METRIC) if a["error.code"] == "FPTEST-002"
    }
    assert kept == {"a" * 16, "b" * 16}


def test_the_limit_is_one_setting_checked_at_start_up():
    """``OTEL_ERRORS_FINGERPRINTS_LIMIT`` (or the keyword) sets the bound; 0 is refused."""
    from otel_errors._internal.config.settings import ConfigurationError, Settings

    assert Settings.load(environ={}).fingerprints_limit == 256
    environ = {"OTEL_ERRORS_FINGERPRINTS_LIMIT": "64"}
    assert Settings.load(environ=environ).fingerprints_limit == 64
    assert Settings.load({"fingerprints_limit": 8}, environ=environ).fingerprints_limit == 8
    with pytest.raises(ConfigurationError, match="OTEL_ERRORS_FINGERPRINTS_LIMIT='0'"):
        Settings.load(environ={"OTEL_ERRORS_FINGERPRINTS_LIMIT": "0"})


def _fail_in_a_job() -> None:
    try:
        {}["missing"]
    except KeyError as exc:
        raise ValueError("job failed") from exc


def test_errors_in_traces_that_are_not_sampled_count_under_the_same_fingerprint(
    spans, tracer, metric_points
):
    """Head sampling drops the event, not the fingerprint's count: the same one as sampled."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

    with pytest.raises(ValueError, match="job failed"), tracer.start_as_current_span("sampled"):
        _fail_in_a_job()
    fingerprint = spans.named("sampled").events[0].attributes["error.fingerprint"]
    unsampled = TracerProvider(sampler=ALWAYS_OFF).get_tracer("tests")
    for _ in range(2):
        with unsampled.start_as_current_span("dropped"):
            try:
                _fail_in_a_job()
            except ValueError as exc:  # a framework integration records it, unhandled
                otel_errors.record_error(exc, handled=False)
    counts = [v for a, v in metric_points(METRIC) if a["error.fingerprint"] == fingerprint]
    assert counts == [3]


def test_the_fingerprint_alone_is_the_one_describe_gives():
    """``fingerprint()`` (no text formatted) equals ``describe().fingerprint``, chains included."""
    from otel_errors._internal.recording.stack import StackFormatter

    formatter = StackFormatter(16384, 1024)
    try:
        _fail_in_a_job()
    except ValueError as exc:
        caught = exc
    described = formatter.describe(caught, "BUG-001", "job failed").fingerprint
    assert formatter.fingerprint(caught, "BUG-001") == described
    assert formatter.fingerprint(caught, "BUG-002") != described
