"""One unit per supported library: what otel_errors knows and does about its errors.

A unit is the package ``otel_errors.integrations.<library>``, registered by one line
in :mod:`otel_errors.integrations.libraries`. Its ``__init__`` declares the unit's
knowledge (``UNIT``: its catalogue section, classification rules, enrichers and the
server loggers that report its escaped exceptions); that module imports only the
error model, never the library, and the registry reads it at start-up. Where no span
or exception would otherwise reach us, the unit also has an ``instrumentor`` module:
it patches the library when the application imports it. CONTRIBUTING.md walks
through adding one.
"""
