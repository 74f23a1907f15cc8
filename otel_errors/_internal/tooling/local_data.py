"""Where the tools look for the local JSON-lines files, and how to say so.

A newcomer who runs ``otel-errors report`` and gets nothing needs to know which
directory was read, why that one (``--dir``, ``OTEL_ERRORS_LOCAL_DIR`` or the
defaults, in order) and how to point elsewhere; ``otel-errors doctor`` says the
same. One place decides it, so the two commands never disagree with the writer
(``export.local_files`` chooses the directory the same way).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from otel_errors._internal.config.environment_variables import OTEL_ERRORS_LOCAL_DIR
from otel_errors._internal.export.local import LOGS_FILE, METRICS_FILE, SPANS_FILE
from otel_errors._internal.export.local_files import default_directory_candidates

if TYPE_CHECKING:
    from collections.abc import Mapping

DATA_FILES = (SPANS_FILE, LOGS_FILE, METRICS_FILE)


@dataclass(frozen=True)
class LocalData:
    """The directory the tools read, how it was chosen, and what is in it."""

    directory: Path
    source: str  # "--dir", OTEL_ERRORS_LOCAL_DIR or "default"
    candidates: tuple[Path, ...]  # the defaults, best first (empty unless source is default)

    @property
    def files(self) -> list[Path]:
        """The data files present (current and rotated ``.1``)."""
        return [
            candidate
            for name in DATA_FILES
            for candidate in (self.directory / f"{name}.1", self.directory / name)
            if candidate.is_file()
        ]

    @property
    def has_report_data(self) -> bool:
        """Whether a spans or logs file (what the report reads) is present."""
        return any(not f.name.startswith(METRICS_FILE) for f in self.files)

    def looked_in(self) -> str:
        """Where and why, in one sentence."""
        if self.source == "--dir":
            return f"{self.directory} (given with --dir)"
        if self.source == OTEL_ERRORS_LOCAL_DIR:
            return f"{self.directory} (from {OTEL_ERRORS_LOCAL_DIR})"
        tried = ", ".join(str(c) for c in self.candidates)
        return (
            f"{self.directory} ({OTEL_ERRORS_LOCAL_DIR} is unset; the defaults, first existing "
            f"of: {tried})"
        )

    def no_data_message(self) -> str:
        """What ``otel-errors report`` prints when there is nothing to read."""
        state = "has no spans.jsonl or logs.jsonl" if self.directory.is_dir() else "does not exist"
        return (
            f"otel-errors: no local telemetry to report on.\n"
            f"  Looked in {self.looked_in()}: the directory {state}.\n"
            f"  Point elsewhere with `otel-errors report --dir DIR`, or set "
            f"{OTEL_ERRORS_LOCAL_DIR}=DIR to the value the application ran with.\n"
            f"  The files are written only by the `otel_errors_local` exporter, the default "
            f"when no OTEL_EXPORTER_OTLP_*ENDPOINT is set; the application prints the "
            f"directory on stderr at start-up."
        )


def locate(given: Path | None, environ: Mapping[str, str] | None = None) -> LocalData:
    """The directory to read: ``given``, else ``OTEL_ERRORS_LOCAL_DIR``, else the defaults."""
    environ = os.environ if environ is None else environ
    if given is not None:
        return LocalData(given.expanduser().absolute(), "--dir", ())
    configured = environ.get(OTEL_ERRORS_LOCAL_DIR, "").strip()
    if configured:
        return LocalData(Path(configured).expanduser().absolute(), OTEL_ERRORS_LOCAL_DIR, ())
    candidates = tuple(default_directory_candidates(environ))
    chosen = next((c for c in candidates if c.is_dir()), candidates[0])
    return LocalData(chosen, "default", candidates)
