"""Enrichers: library-specific attributes added on the failure path, from any recorder."""

from __future__ import annotations

import pytest

from otel_errors._internal.recording.runtime import get_recorder


class DriverError(Exception):
    """Stands in for a driver exception (module set below)."""


DriverError.__module__ = "fakedriver.errors"


class WrapperError(Exception):
    """Stands in for an ORM wrapper carrying the driver error in ``orig``."""

    def __init__(self, orig: BaseException) -> None:
        super().__init__("wrapped")
        self.orig = orig


@pytest.fixture
def enrichers(fresh_registry):
    return fresh_registry.enrichers


def test_enricher_adds_attributes_and_replaces_the_message(spans, tracer, enrichers):
    """A matching enricher sees the span and can replace the computed message."""
    seen = []

    def enrich(exc, span, attributes):
        seen.append(span.name if span else None)
        return {"db.response.status_code": "23505", "exception.message": "cleaned"}

    enrichers.add(("fakedriver.",), enrich)
    with pytest.raises(DriverError), tracer.start_as_current_span("INSERT"):
        raise DriverError("Key (email)=(a@b.c) already exists")
    event = spans.only_exception()
    assert (event["db.response.status_code"], event["exception.message"]) == ("23505", "cleaned")
    assert seen == ["INSERT"]


def test_wrapped_driver_errors_match_through_orig_and_cause(enrichers):
    """An ORM wrapper whose driver error sits in ``orig`` or ``__cause__`` matches."""
    enrichers.add(("fakedriver.",), lambda exc, span, attrs: {"matched": type(exc).__name__})
    via_orig = WrapperError(DriverError())
    via_cause = RuntimeError("x")
    via_cause.__cause__ = DriverError()
    recorder = get_recorder()
    assert recorder.attributes(via_orig, handled=False)[0]["matched"] == "WrapperError"
    assert recorder.attributes(via_cause, handled=False)[0]["matched"] == "RuntimeError"
    assert "matched" not in recorder.attributes(KeyError(), handled=False)[0]


def test_failing_enricher_is_skipped(spans, tracer, enrichers, caplog):
    """An enricher that raises is counted and the event is recorded without its extras."""
    enrichers.add(("fakedriver.",), lambda exc, span, attrs: 1 / 0)
    with pytest.raises(DriverError), tracer.start_as_current_span("q"):
        raise DriverError("x")
    assert spans.only_exception()["exception.message"] == "x"
    assert "internal failure in enrichment" in caplog.text


def test_an_enricher_added_later_applies_to_a_failure_seen_before(enrichers):
    """What matched a chain of modules is remembered, and forgotten when an enricher is added."""
    recorder = get_recorder()
    enrichers.add(("fakedriver.",), lambda exc, span, attrs: {"first": True})
    assert "second" not in recorder.attributes(DriverError(), handled=False)[0]
    enrichers.add(("fakedriver.errors.",), lambda exc, span, attrs: {"second": True})
    attributes = recorder.attributes(DriverError(), handled=False)[0]
    assert (attributes["first"], attributes["second"]) == (True, True)
