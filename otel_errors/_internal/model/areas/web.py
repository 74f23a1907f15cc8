"""Web frameworks: HTTP exceptions carry their status, which picks the ``WEB-*`` code.

The frameworks' units (flask, starlette, django) name their classes; the codes and the
rule they share live here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from otel_errors._internal.model.catalog import Catalog
    from otel_errors._internal.model.classification import Classifier

SERVER_ERROR = 500


def web_code(status: int, catalog: Catalog) -> str:
    """``WEB-<status>`` when catalogued, else the 4xx or 5xx catch-all."""
    code = f"WEB-{status}"
    if code in catalog:
        return code
    return "WEB-500" if status >= SERVER_ERROR else "WEB-400"


def _error_status(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None) or getattr(exc, "code", None)
    if isinstance(status, int) and 400 <= status <= 599:  # noqa: PLR2004 - error statuses
        return status
    return None


def status_rule(classifier: Classifier) -> Callable[[BaseException], str | None]:
    """The rule of a framework's HTTP exception class: its status picks the ``WEB-*`` code."""

    def code(exc: BaseException) -> str | None:
        status = _error_status(exc)
        return None if status is None else web_code(status, classifier.catalog)

    return code
