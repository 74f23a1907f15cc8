"""Import first thing in the application to get what ``opentelemetry-instrument`` gives.

::

    import otel_errors.auto  # noqa: F401

Equivalent to running under the launcher with the otel_errors distro: environment
defaults, the pipeline, and every installed instrumentation. Importing it again, or
under the launcher, changes nothing.
"""

from otel_errors._internal.pipeline.setup import setup

setup(strict=False, instrument=True)
