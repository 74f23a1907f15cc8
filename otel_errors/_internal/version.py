"""The distribution's version, read by hatchling and reported as ``telemetry.distro.version``."""

__version__ = "0.1.0"
