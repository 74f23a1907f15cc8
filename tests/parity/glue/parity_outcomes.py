"""One JSON line per test outcome, appended as each test ends (shared by both glue modules).

Appending as the run goes means a run that crashes half-way still tells which tests
ran; the harness reads the worst outcome recorded for each id (a test can report a
failing subtest, then its teardown, ...).
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

_LOCK = threading.Lock()
REASON_LIMIT = 4000
"""Characters of a failure's text kept (its end: the exception line is last)."""


def record(test_id: str, outcome: str, reason: str = "") -> None:
    """Appends ``test_id``'s ``outcome`` and the end of its failure text to $PARITY_RESULTS."""
    line = json.dumps({"id": test_id, "outcome": outcome, "reason": reason[-REASON_LIMIT:]})
    with _LOCK, Path(os.environ["PARITY_RESULTS"]).open("a", encoding="utf-8") as results:
        results.write(line + "\n")
