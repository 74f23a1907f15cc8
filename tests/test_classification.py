"""Classification: AppError codes, rules by class, name and predicate, chains and groups."""

from __future__ import annotations

import errno
import json
import socket
import ssl
import sys

import pytest

import otel_errors
from otel_errors import AppError, ErrorCode
from otel_errors._internal.recording.runtime import current

if sys.version_info >= (3, 11):
    from builtins import ExceptionGroup
else:
    from exceptiongroup import ExceptionGroup


class LibraryError(Exception):
    """Stands in for a third-party exception class."""


class LibrarySubError(LibraryError):
    """A subclass of it."""


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (TimeoutError(), "GEN-001"),
        (PermissionError(), "GEN-002"),
        (FileNotFoundError(), "GEN-003"),
        (ConnectionRefusedError(), "NET-001"),
        (ConnectionResetError(), "NET-002"),
        (BrokenPipeError(), "NET-002"),
        (socket.gaierror(), "NET-003"),
        (ssl.SSLCertVerificationError(), "NET-004"),
        (ConnectionError(), "NET-005"),
        (ValueError(), "VAL-001"),
        (json.JSONDecodeError("bad", "doc", 0), "VAL-002"),
        (UnicodeDecodeError("utf-8", b"\xff", 0, 1, "bad"), "VAL-002"),
        (MemoryError(), "SYS-001"),
        (OSError(errno.ENOSPC, "No space left on device"), "SYS-002"),
        (OSError(errno.EMFILE, "Too many open files"), "SYS-003"),
        (OSError(errno.EIO, "I/O error"), "SYS-004"),
        (TypeError(), "BUG-001"),
        (AttributeError(), "BUG-002"),
        (KeyError("k"), "BUG-003"),
        (IndexError(), "BUG-003"),
        (AssertionError(), "BUG-004"),
        (ZeroDivisionError(), "BUG-005"),
        (RecursionError(), "BUG-006"),
        (ModuleNotFoundError(), "BUG-007"),
        (RuntimeError(), "BUG-008"),
        (Exception(), "UNKNOWN"),
        (LibraryError(), "UNKNOWN"),
    ],
)
def test_stdlib_defaults(exc, code):
    """The shipped rules classify common stdlib exceptions; the rest is UNKNOWN."""
    assert otel_errors.classify(exc).code == code


def test_rule_by_qualified_name_matches_subclasses(fresh_registry):
    """A name rule needs no import of the library and applies to subclasses."""
    otel_errors.register_exception(f"{__name__}.LibraryError", "NET-005")
    assert otel_errors.classify(LibrarySubError()).code == "NET-005"


def test_most_specific_class_and_latest_rule_win(fresh_registry):
    """A subclass rule beats a base-class rule; a later rule beats an earlier one."""
    otel_errors.register_exception(LibraryError, "NET-005")
    otel_errors.register_exception(LibrarySubError, "GEN-001")
    assert otel_errors.classify(LibrarySubError()).code == "GEN-001"
    otel_errors.register_exception(LibrarySubError, "GEN-002")
    assert otel_errors.classify(LibrarySubError()).code == "GEN-002"
    assert otel_errors.classify(LibraryError()).code == "NET-005"


def test_dynamic_code_may_pass_to_the_next_rule(fresh_registry):
    """A rule returning None lets the next rule decide."""
    otel_errors.register_exception(LibraryError, "NET-005")
    otel_errors.register_exception(LibraryError, lambda e: "GEN-001" if e.args else None)
    assert otel_errors.classify(LibraryError("slow")).code == "GEN-001"
    assert otel_errors.classify(LibraryError()).code == "NET-005"


def test_predicate_rule(fresh_registry):
    """A predicate on the exception object selects the code."""
    otel_errors.register_exception(lambda e: getattr(e, "status", None) == 503, "NET-001")
    exc = LibraryError()
    exc.status = 503  # type: ignore[attr-defined]
    assert otel_errors.classify(exc).code == "NET-001"
    assert otel_errors.classify(LibraryError()).code == "UNKNOWN"


def test_error_code_object_is_added_to_the_catalogue(fresh_registry):
    """Registering with an ErrorCode declares it."""
    entry = ErrorCode("LIB-001", title="Library failed", severity="P1")
    otel_errors.register_exception(LibraryError, entry)
    assert otel_errors.get_catalog()["LIB-001"] == entry
    assert otel_errors.classify(LibraryError()).severity.value == "P1"


def test_bad_match_is_refused():
    """Anything other than a class, a name or a callable is a TypeError at registration."""
    with pytest.raises(TypeError, match="cannot match exceptions with 42"):
        otel_errors.register_exception(42, "GEN-001")  # type: ignore[arg-type]


def test_failing_rules_fail_open(fresh_registry, caplog):
    """A predicate or dynamic rule that raises is skipped and counted, never raised."""

    def broken(exc: BaseException) -> bool:
        raise RuntimeError("rule bug")

    otel_errors.register_exception(broken, "NET-001")
    otel_errors.register_exception(LibraryError, lambda e: 1 / 0)
    assert otel_errors.classify(LibraryError()).code == "UNKNOWN"
    assert "internal failure in classification" in caplog.text


def test_unclassified_wrapper_defers_to_its_explicit_cause():
    """`raise Wrapper from cause` takes the cause's code when the wrapper is unknown."""
    try:
        try:
            raise ConnectionRefusedError
        except ConnectionRefusedError as cause:
            raise LibraryError("query failed") from cause
    except LibraryError as exc:
        assert otel_errors.classify(exc).code == "NET-001"


def test_implicit_context_is_not_used():
    """An exception raised while handling another keeps its own classification."""
    try:
        try:
            raise ConnectionRefusedError
        except ConnectionRefusedError:
            raise LibraryError("cleanup failed")  # noqa: B904 - the point of the test
    except LibraryError as exc:
        assert otel_errors.classify(exc).code == "UNKNOWN"


def test_classified_wrapper_keeps_its_own_code():
    """The exception itself decides whenever a rule matches it."""
    try:
        try:
            raise ConnectionRefusedError
        except ConnectionRefusedError as cause:
            raise TypeError("bad call") from cause
    except TypeError as exc:
        assert otel_errors.classify(exc).code == "BUG-001"


def test_cyclic_cause_chain_terminates():
    """A cause cycle is cut instead of looping."""
    first, second = LibraryError("a"), LibraryError("b")
    first.__cause__ = second
    second.__cause__ = first
    assert otel_errors.classify(first).code == "UNKNOWN"


def test_exception_group_takes_the_most_severe_leaf():
    """A group reports its most severe leaf and lists every distinct leaf code."""
    group = ExceptionGroup(
        "batch",
        [
            KeyError("a"),
            ExceptionGroup("inner", [MemoryError(), KeyError("b")]),
            ValueError(),
        ],
    )
    result = current().registry.classifier.classify(group)
    assert result.error.code == "SYS-001"
    assert result.group_codes == ("BUG-003", "SYS-001", "VAL-001")


def test_exception_group_ties_keep_the_first_leaf():
    """Equal severities resolve to the first leaf."""
    group = ExceptionGroup("g", [TypeError(), AttributeError()])
    assert otel_errors.classify(group).code == "BUG-001"


class CardDeclined(AppError, code="GEN-002"):
    """An application error bound to a shipped code."""


def test_app_error_beats_every_rule(fresh_registry):
    """An AppError's own code wins over rules for its bases."""
    otel_errors.register_exception(Exception, "NET-005")
    assert otel_errors.classify(CardDeclined()).code == "GEN-002"
