"""Implementation of otel_errors; import the public API from the package root."""
