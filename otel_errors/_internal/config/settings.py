"""Resolved settings: ``configure()`` keywords over ``OTEL_ERRORS_*`` variables over defaults.

All values are validated at once, and every problem is reported in one
``ConfigurationError`` that names the variable (or keyword) and the bad value.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from otel_errors._internal.config.environment_variables import SETTINGS, ProblemDetails, Setting

if TYPE_CHECKING:
    from collections.abc import Mapping


class ConfigurationError(ValueError):
    """A setting has an invalid value; the message names each bad variable and value."""


@dataclass(frozen=True)
class Settings:
    """The effective configuration (see ``environment_variables.SETTINGS`` for each field)."""

    enabled: bool
    catalog: tuple[str, ...]
    local_dir: str
    local_max_bytes: int
    shutdown_deadline: float
    max_message_length: int
    max_stacktrace_length: int
    stack_cache_size: int
    capture_locals: bool
    http_client_error_statuses: frozenset[int]
    metrics_cardinality_limit: int
    fingerprints_limit: int
    log_console_json: bool
    log_export: bool
    redaction: bool
    redaction_key: str = field(repr=False)
    redaction_allow_keys: tuple[str, ...]
    redaction_rules: str
    redaction_extra_detectors: tuple[str, ...]
    problem_details: ProblemDetails
    problem_type_base: str
    debug: bool
    request_id_header: str
    request_id_echo: bool
    propagate_errors: bool

    @classmethod
    def load(
        cls, overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
    ) -> Settings:
        """Resolves every setting.

        Args:
            overrides: ``configure()`` keywords; None values mean "not given".
            environ: The environment (``os.environ`` when omitted).

        Raises:
            ConfigurationError: one or more values are invalid (all are listed).
        """
        settings, problems = cls.resolve(overrides, environ)
        if problems:
            raise ConfigurationError("invalid otel_errors configuration: " + "; ".join(problems))
        return settings

    @classmethod
    def resolve(
        cls, overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
    ) -> tuple[Settings, list[str]]:
        """Like :meth:`load`, but an invalid value falls back to its default and is listed."""
        environ = os.environ if environ is None else environ
        overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
        values: dict[str, object] = {}
        problems: list[str] = []
        for setting in SETTINGS:
            if setting.keyword in overrides:
                value, problem = _from_keyword(setting, overrides[setting.keyword])
            elif setting.env in environ:
                value, problem = _from_env(setting, environ[setting.env])
            else:
                value, problem = setting.default_value, None
            if problem:
                problems.append(problem)
            values[setting.keyword] = value
        return cls(**values), problems  # type: ignore[arg-type]


def _from_env(setting: Setting, raw: str) -> tuple[object, str | None]:
    try:
        return setting.parse(raw), None
    except (ValueError, TypeError):
        return setting.default_value, f"{setting.env}={raw!r}: expected {setting.kind}"


def _from_keyword(setting: Setting, value: object) -> tuple[object, str | None]:
    problem = f"configure({setting.keyword}={value!r}): expected {setting.kind}"
    default = setting.default_value
    if isinstance(default, bool):
        return (value, None) if isinstance(value, bool) else (default, problem)
    if isinstance(default, tuple):
        if isinstance(value, (str, os.PathLike)):
            value = (value,)
        try:
            return tuple(os.fspath(v) for v in value), None  # type: ignore[attr-defined]
        except TypeError:
            return default, problem
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if isinstance(value, bool):
        value = str(value).lower()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return default, problem
    try:
        return setting.parse(value), None
    except (ValueError, TypeError):
        return default, problem


def value_length_limit() -> int | None:
    """``OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`` when set to a whole number, else None.

    The SDK cuts attribute values there already; the redactor cuts every other
    exported string (names, status descriptions, log bodies) at the same length. An
    invalid value is the SDK's to report; the redactor then keeps its default.
    """
    raw = os.environ.get("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "").strip()
    return int(raw) if raw.isdigit() else None
