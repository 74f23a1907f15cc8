"""Instrumentors that teach otel_errors the failures of specific libraries.

One module per library, each with a ``<Library>ErrorsInstrumentor``
(``BaseInstrumentor``) registered as an ``opentelemetry_instrumentor`` entry point
named ``otel_errors_<library>``, so the launcher loads only what is installed and
``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=requests`` never switches ours off by
accident. They patch with ``wrapt`` and ``uninstrument()`` restores the originals.
Classification of a library's exceptions does not need them: it lives in the
shipped catalogue sections and rules, and works without importing the library.
"""
