"""The catalogue, classifier and enrichers that recording uses, built from the areas and units.

The shipped knowledge is the areas' (``model.areas``: codes several libraries share)
and every library unit's (``otel_errors.integrations.<name>.UNIT``, one per line of
``integrations.libraries``). Reading it imports no instrumented library: a unit's
``UNIT`` names classes as strings and its rules read exceptions with ``getattr``.

Order matters where two rules name one class (the last registered wins): catalogue
``match`` lists and the units' class maps come first, then the areas' rules, then the
units' rules in the order of ``LIBRARIES``.
"""

from __future__ import annotations

import importlib
from importlib import resources
from typing import TYPE_CHECKING

from otel_errors._internal.model import areas, declarations
from otel_errors._internal.model.catalog import Catalog, CatalogError
from otel_errors._internal.model.classification import Classifier
from otel_errors._internal.model.enrichment import Enrichers
from otel_errors.integrations.libraries import LIBRARIES

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from otel_errors._internal.model.unit import Unit

SHIPPED_SOURCE = "otel_errors (shipped defaults)"


def shipped_units() -> list[tuple[str, Unit]]:
    """Every library unit's knowledge, in the order of ``LIBRARIES``."""
    return [
        (library.name, importlib.import_module(f"otel_errors.integrations.{library.name}").UNIT)
        for library in LIBRARIES
    ]


def shipped_catalog(units: Sequence[tuple[str, Unit]] | None = None) -> Catalog:
    """The catalogue otel_errors ships: the areas' sections, then each unit's."""
    catalog = Catalog()
    files = resources.files("otel_errors._internal.model.areas")
    for section in areas.SECTIONS:
        name = f"{section}.toml"
        text = (files / name).read_text(encoding="utf-8")
        catalog.update(Catalog.from_toml_text(text, source=f"{SHIPPED_SOURCE}: {name}"))
    for unit_name, unit in shipped_units() if units is None else units:
        if unit.catalog is not None:
            found = resources.files(f"otel_errors.integrations.{unit_name}") / unit.catalog
            source = f"{SHIPPED_SOURCE}: {unit_name}/{unit.catalog}"
            catalog.update(Catalog.from_toml_text(found.read_text(encoding="utf-8"), source=source))
    return catalog


class Registry:
    """The catalogue, classifier, enrichers and server loggers, with the shipped knowledge."""

    def __init__(self) -> None:
        """Loads the areas' and the units' knowledge."""
        units = shipped_units()
        self.catalog = shipped_catalog(units)
        self.classifier = Classifier(self.catalog)
        self.classifier.add_catalog_matches()
        for _, unit in units:
            for name, code in unit.exceptions.items():
                self.classifier.add(name, code)
        for register in areas.RULES:
            register(self.classifier)
        self.enrichers = Enrichers()
        self.upstream_readers = Enrichers()
        server_loggers: set[str] = set()
        for _, unit in units:
            if unit.rules is not None:
                unit.rules(self.classifier)
            for modules, enricher in unit.enrichers:
                self.enrichers.add(modules, enricher)
            for modules, reader in unit.upstream_readers:
                self.upstream_readers.add(modules, reader)
            server_loggers.update(unit.server_loggers)
        self.server_loggers = frozenset(server_loggers)
        """Loggers whose ERROR records carry exceptions the application let escape."""
        framework_handlers: dict[str, set[str]] = {}
        for _, unit in units:
            for logger_name, formatter in unit.framework_log_handlers:
                framework_handlers.setdefault(logger_name, set()).add(formatter)
        self.framework_log_handlers = {k: frozenset(v) for k, v in framework_handlers.items()}
        """Logger name: formatter classes of a library's own default console handlers."""
        self.conflicts = declarations.merge_into(self.catalog)
        """Inline ``AppError`` declarations that clash with the shipped catalogue."""
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

    def missing_codes(self, declared: dict[str, list[str]]) -> dict[str, list[str]]:
        """Codes used by AppError classes or rules that the catalogue lacks, with their users.

        Args:
            declared: Codes bound to ``AppError`` subclasses, with the classes using them.
        """
        used = {code: list(users) for code, users in declared.items()}
        for code in self.classifier.referenced_codes():
            used.setdefault(code, []).append("a classification rule")
        return {code: users for code, users in used.items() if code not in self.catalog}
