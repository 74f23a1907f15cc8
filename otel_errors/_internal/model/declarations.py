"""Catalogue entries declared in ``AppError`` class statements, wherever they are declared.

``class QuotaExceeded(AppError, code=ErrorCode("PAY-010", ...))`` declares a code in
Python: it lands here when the class is created (two classes declaring one code
differently fail right there, naming both), and every registry merges these entries
into its catalogue (when it is built, and on a code it does not know yet), so that
a runtime installed after the class was created knows it too. Like the class
hierarchy it mirrors, this table belongs to the interpreter, not to a run.
"""

from __future__ import annotations

from otel_errors._internal.model.catalog import Catalog, CatalogError, ErrorCode

declared = Catalog()
"""Every entry declared inline so far, with the class that declared it as its source."""


def merge_into(catalog: Catalog) -> list[str]:
    """Adds the declared entries ``catalog`` lacks; returns the conflicts it found, described."""
    return [problem for entry in declared if (problem := _merge(entry, catalog))]


def _merge(entry: ErrorCode, catalog: Catalog) -> str | None:
    try:
        catalog.add(entry, source=declared.source_of(entry.code))
    except CatalogError as conflict:
        return str(conflict)
    return None


def declare(entry: ErrorCode, *, source: str) -> None:
    """Records an inline declaration.

    Raises:
        CatalogError: another class declared the same code differently.
    """
    declared.add(entry, source=source)
