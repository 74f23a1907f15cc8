"""Django's own test settings (``tests/test_sqlite.py`` of the sdist) plus the outcome recorder.

``runtests.py`` honours ``settings.TEST_RUNNER``; everything else is the suite's own.
"""

from test_sqlite import *  # noqa: F403 - the suite's settings, unchanged

TEST_RUNNER = "parity_django.OutcomeRecordingRunner"
