"""Web framework rules: HTTP exceptions carry their status, which picks the ``WEB-*`` code."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from otel_errors._internal.model.catalog import Catalog
    from otel_errors._internal.model.classification import Classifier

SERVER_ERROR = 500
_HTTP_EXCEPTIONS = ("starlette.exceptions.HTTPException", "werkzeug.exceptions.HTTPException")


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


def register(classifier: Classifier) -> None:
    """Adds rules for Starlette's and Werkzeug's HTTP exceptions (by name, no import)."""

    def code(exc: BaseException) -> str | None:
        status = _error_status(exc)
        return None if status is None else web_code(status, classifier.catalog)

    for name in _HTTP_EXCEPTIONS:
        classifier.add(name, code)
