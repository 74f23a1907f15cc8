"""AppError: codes bound in the class statement, context, messages and pickling."""

from __future__ import annotations

import pickle

import pytest

import otel_errors
from otel_errors import AppError, CatalogError, ErrorCode


class PaymentError(AppError):
    """Intermediate base without a code."""


class QuotaExceeded(
    PaymentError,
    code=ErrorCode("PAY-010", title="Quota exceeded", http_status=429, severity="P4"),
):
    """Declares its catalogue entry inline."""


class QuotaExceededAgain(PaymentError, code="PAY-010"):
    """Reuses the same code by name."""


def test_inline_declaration_adds_to_the_catalogue():
    """The ErrorCode in the class statement is in the live catalogue."""
    assert otel_errors.get_catalog()["PAY-010"].http_status == 429
    assert QuotaExceeded.code == "PAY-010"
    assert QuotaExceededAgain().code == "PAY-010"
    assert PaymentError.code == "UNKNOWN"


def test_message_defaults_to_the_catalogue_title():
    """Without a message, str() gives the title; with one, the message."""
    assert str(QuotaExceeded()) == "Quota exceeded"
    assert str(QuotaExceeded("tenant 7 over quota")) == "tenant 7 over quota"


def test_context_and_instance_code():
    """Keyword arguments become context; code= refines the code per instance."""
    exc = QuotaExceeded("over", tenant=7, plan="free", code="PAY-011")
    assert exc.context == {"tenant": 7, "plan": "free"}
    assert exc.code == "PAY-011"
    assert QuotaExceeded.code == "PAY-010"


def test_malformed_code_in_class_statement_is_rejected():
    """A bad code fails at class creation, naming the class."""
    with pytest.raises(CatalogError, match="Broken: malformed error code 'pay_1'"):

        class Broken(AppError, code="pay_1"):
            pass


def test_conflicting_inline_declaration_is_rejected():
    """Declaring an existing code differently is a duplicate."""
    with pytest.raises(CatalogError, match="duplicate error code 'PAY-010'"):

        class Other(AppError, code=ErrorCode("PAY-010", title="Something else")):
            pass


def test_pickle_round_trip_keeps_message_and_context():
    """AppErrors cross process boundaries (task queues) intact."""
    exc = QuotaExceeded("over", tenant=7)
    clone = pickle.loads(pickle.dumps(exc))  # noqa: S301 - our own data
    assert str(clone) == "over"
    assert clone.context == {"tenant": 7}
