"""Django's own test runner, with a result class that records every test's outcome.

Django's ``runtests.py`` has no machine-readable report; its ``DiscoverRunner``
takes a result class, which also receives the outcomes of parallel workers (they
are replayed in the main process).

One more thing is put back as the launcher left it: contrib's Django instrumentation
adds its middleware to ``settings.MIDDLEWARE`` when the launcher starts, and
``runtests.py`` then replaces that list with its own. An application's settings keep
it; so does this run (on both sides), or contrib would trace no request at all.
"""

from __future__ import annotations

import unittest
from typing import Any

from django.conf import settings
from django.test.runner import DiscoverRunner
from opentelemetry.instrumentation.django import DjangoInstrumentor
from parity_outcomes import record


class OutcomeRecordingResult(unittest.TextTestResult):
    """``unittest``'s text result that also appends each outcome to the results file."""

    def addSuccess(self, test: Any) -> None:  # noqa: N802 - unittest's name
        super().addSuccess(test)
        record(test.id(), "passed")

    def addError(self, test: Any, err: Any) -> None:  # noqa: N802 - unittest's name
        super().addError(test, err)
        record(test.id(), "error", self._exc_info_to_string(err, test))

    def addFailure(self, test: Any, err: Any) -> None:  # noqa: N802 - unittest's name
        super().addFailure(test, err)
        record(test.id(), "failed", self._exc_info_to_string(err, test))

    def addSubTest(self, test: Any, subtest: Any, err: Any) -> None:  # noqa: N802 - unittest's name
        super().addSubTest(test, subtest, err)
        if err is not None:
            failed = issubclass(err[0], test.failureException)
            text = f"{subtest.id()}\n{self._exc_info_to_string(err, test)}"
            record(test.id(), "failed" if failed else "error", text)

    def addSkip(self, test: Any, reason: str) -> None:  # noqa: N802 - unittest's name
        super().addSkip(test, reason)
        record(test.id(), "skipped", reason)

    def addExpectedFailure(self, test: Any, err: Any) -> None:  # noqa: N802 - unittest's name
        super().addExpectedFailure(test, err)
        record(test.id(), "xfailed")

    def addUnexpectedSuccess(self, test: Any) -> None:  # noqa: N802 - unittest's name
        super().addUnexpectedSuccess(test)
        record(test.id(), "failed", "unexpected success of a test marked expectedFailure")


class OutcomeRecordingRunner(DiscoverRunner):
    """``DiscoverRunner`` with :class:`OutcomeRecordingResult` (no --pdb or --debug-sql here)."""

    def get_resultclass(self) -> type[unittest.TextTestResult]:
        return OutcomeRecordingResult

    def setup_test_environment(self, **kwargs: Any) -> None:
        """Contrib's middleware first, where its instrumentor put it before runtests.py ran."""
        instrumentor = DjangoInstrumentor()
        middleware = list(settings.MIDDLEWARE)
        if instrumentor.is_instrumented_by_opentelemetry:
            contrib = instrumentor._opentelemetry_middleware
            if contrib not in middleware:
                settings.MIDDLEWARE = [contrib, *middleware]
        super().setup_test_environment(**kwargs)
