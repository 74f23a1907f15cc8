"""Resilience rules: a tenacity ``RetryError`` carries the code of the error it gave up on.

``RetryError`` wraps the last attempt instead of being the failure: classified by its
class it would hide a refused connection or a deadlock behind one generic code. The
last attempt is read with ``getattr`` (tenacity is never imported) and only when it
is done, so classification never waits. When the last attempt raised nothing (a
rejected result) or something unclassified, the class rule (``RES-002``) applies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from otel_errors._internal.names import UNKNOWN_CODE

if TYPE_CHECKING:
    from collections.abc import Callable

    from otel_errors._internal.model.catalog import ErrorCode
    from otel_errors._internal.model.classification import Classifier


def last_attempt_exception(exc: BaseException) -> BaseException | None:
    """The exception of the last attempt a ``RetryError`` wraps, if it raised one."""
    last = getattr(exc, "last_attempt", None)
    done = getattr(last, "done", None)
    if not callable(done) or not done():
        return None
    failure = last.exception()  # type: ignore[union-attr]  # done() implies a Future
    return failure if isinstance(failure, BaseException) else None


def retry_error_rule(classifier: Classifier) -> Callable[[BaseException], ErrorCode | None]:
    """The rule of a ``RetryError``: the code of the last attempt's exception, if classified."""

    def code(exc: BaseException) -> ErrorCode | None:
        failure = last_attempt_exception(exc)
        if failure is None or failure is exc:
            return None
        entry = classifier.classify(failure).error
        return None if entry.code == UNKNOWN_CODE else entry

    return code
