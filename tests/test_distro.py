"""The distro's early dependency check: the libraries' table speaks for each instrumentor."""

from __future__ import annotations

import importlib

import pytest
from opentelemetry.instrumentation.dependencies import DependencyConflictError

from otel_errors._internal.pipeline import distro
from otel_errors.integrations.libraries import LIBRARIES


@pytest.mark.parametrize(
    "library", [lib for lib in LIBRARIES if lib.instrumentor], ids=lambda lib: lib.name
)
def test_each_instrumentor_requires_what_its_library_line_says(library):
    module = importlib.import_module(f"otel_errors.integrations.{library.name}.instrumentor")
    instrumentor = getattr(module, library.instrumentor)()
    assert tuple(instrumentor.instrumentation_dependencies()) == library.requires
    assert distro._REQUIREMENTS[distro.OWN_PREFIX + (library.entry_point or library.name)] == (
        library.requires
    )


class _EntryPoint:
    def __init__(self, name: str) -> None:
        self.name = name
        self.loaded = False

    def load(self):
        self.loaded = True
        raise AssertionError("imported although its library is missing")


def test_a_missing_library_is_skipped_before_its_instrumentor_is_imported(monkeypatch):
    monkeypatch.setitem(distro._REQUIREMENTS, "otel_errors_nothing", ("no-such-dist >= 1",))
    entry_point = _EntryPoint("otel_errors_nothing")
    with pytest.raises(DependencyConflictError) as raised:
        distro.OtelErrorsDistro().load_instrumentor(entry_point, skip_dep_check=True)
    assert "no-such-dist" in str(raised.value.conflict)
    assert not entry_point.loaded


def test_an_installed_library_is_checked_once_before_it_is_loaded(monkeypatch):
    """The instrumentor is told to skip its own check: the versions were just looked up."""
    calls = []

    class Instrumentor:
        def instrument(self, **kwargs):
            calls.append(kwargs)

    class EntryPoint:
        name = "otel_errors_flask"

        def load(self):
            return Instrumentor

    distro.OtelErrorsDistro().load_instrumentor(EntryPoint(), skip_dep_check=True)
    assert calls == [{"raise_exception_on_conflict": True, "skip_dep_check": True}]


def test_an_instrumentor_without_requirements_checks_as_before():
    """Nothing was checked early (no line requirements): ``instrument`` runs its own check."""
    calls = []

    class Instrumentor:
        def instrument(self, **kwargs):
            calls.append(kwargs)

    class EntryPoint:
        name = "otel_errors_process_hooks"

        def load(self):
            return Instrumentor

    distro.OtelErrorsDistro().load_instrumentor(EntryPoint(), skip_dep_check=True)
    assert calls == [{"raise_exception_on_conflict": True}]
