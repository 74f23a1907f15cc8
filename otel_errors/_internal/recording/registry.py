"""The process-wide catalogue and classifier, with the shipped sections and rules loaded.

Importing this module is cheap: the shipped catalogue is a few small TOML files
inside the package, and no instrumented library is imported.
"""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING

from otel_errors._internal.model.catalog import Catalog, CatalogError
from otel_errors._internal.model.classification import Classifier
from otel_errors._internal.model.enrichment import Enrichers
from otel_errors._internal.model.rules import ENRICHERS as SHIPPED_ENRICHERS
from otel_errors._internal.model.rules import SHIPPED as SHIPPED_RULES

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

SHIPPED_SOURCE = "otel_errors (shipped defaults)"


def shipped_catalog() -> Catalog:
    """The default catalogue that otel_errors ships: every section in ``catalogs/``."""
    catalog = Catalog()
    sections = resources.files("otel_errors._internal.model.catalogs")
    for section in sorted(sections.iterdir(), key=lambda p: p.name):
        if section.name.endswith(".toml"):
            text = section.read_text(encoding="utf-8")
            source = f"{SHIPPED_SOURCE}: {section.name}"
            catalog.update(Catalog.from_toml_text(text, source=source))
    return catalog


class Registry:
    """The catalogue and classifier that recording uses, with the shipped defaults loaded."""

    def __init__(self) -> None:
        """Loads the shipped catalogue and its rules."""
        self.catalog = shipped_catalog()
        self.classifier = Classifier(self.catalog)
        self.classifier.add_catalog_matches()
        for register in SHIPPED_RULES:
            register(self.classifier)
        self.enrichers = Enrichers()
        for modules, enricher in SHIPPED_ENRICHERS:
            self.enrichers.add(modules, enricher)
        self._loaded_files: set[str] = set()

    def load_files(self, paths: Sequence[str | Path]) -> None:
        """Merges application catalogue files.

        An application file may redefine a shipped code; two application sources
        defining the same code differently is an error. Loading the same file twice
        is a no-op, so repeated ``configure()`` calls are harmless.

        Raises:
            CatalogError: a file is unreadable or invalid, or codes conflict.
        """
        for path in paths:
            key = str(path)
            if key in self._loaded_files:
                continue
            incoming = Catalog.from_toml(path)
            for entry in incoming:
                existing = self.catalog.get(entry.code)
                if existing is None or existing == entry:
                    self.catalog.add(entry, source=key)
                elif self.catalog.source_of(entry.code).startswith(SHIPPED_SOURCE):
                    self.catalog.override(entry, source=key)
                else:
                    raise CatalogError(
                        f"duplicate error code {entry.code!r}: defined in "
                        f"{self.catalog.source_of(entry.code)} and again, differently, in {key}"
                    )
                for name in entry.match:
                    self.classifier.add(name, entry.code)
            self._loaded_files.add(key)

    def missing_codes(self) -> dict[str, list[str]]:
        """Codes used by AppError classes or rules that the catalogue lacks, with their users."""
        from otel_errors._internal.model.app_error import declared_app_error_codes

        used = declared_app_error_codes()
        for code in self.classifier.referenced_codes():
            used.setdefault(code, []).append("a classification rule")
        return {code: users for code, users in used.items() if code not in self.catalog}


registry = Registry()
"""The process-wide registry."""
