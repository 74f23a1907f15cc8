"""The redactor in use, built once from the settings, and its start-up validation.

Shared by the exporters, the JSON log formatter and the errors counter, so that
one configuration decides what is secret everywhere. Built lazily with the
defaults when nothing configured it (``otel_errors.logging`` used alone).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from otel_errors._internal.config.environment_variables import (
    OTEL_ERRORS_REDACTION_EXTRA_DETECTORS,
    OTEL_ERRORS_REDACTION_RULES,
)
from otel_errors._internal.recording import forking
from otel_errors._internal.scrubbing import RedactionConfig, RedactionConfigError, Redactor

if TYPE_CHECKING:
    from otel_errors._internal.config.settings import Settings

logger = logging.getLogger("otel_errors")

_lock = forking.lock()
_redactor: Redactor | None = None


def build_redactor(settings: Settings) -> Redactor:
    """The redactor the settings describe.

    Raises:
        RedactionConfigError: the rules file or the optional detectors are invalid; the
            message names the variable.
    """
    try:
        config = RedactionConfig.build(
            hash_key=settings.redaction_key or None,
            allow_keys=settings.redaction_allow_keys,
            extra_detectors=settings.redaction_extra_detectors,
            rules_file=Path(settings.redaction_rules) if settings.redaction_rules else None,
            max_length=value_length_limit(),
        )
    except RedactionConfigError as exc:
        variable = (
            OTEL_ERRORS_REDACTION_RULES
            if settings.redaction_rules and "rules" in str(exc)
            else OTEL_ERRORS_REDACTION_EXTRA_DETECTORS
        )
        raise RedactionConfigError(f"{variable}: {exc}") from None
    if config.hash_key_is_random:
        logger.info(
            "otel_errors: OTEL_ERRORS_REDACTION_KEY is not set; hashed values (user.hash) "
            "correlate within this process only"
        )
    return Redactor(config)


def value_length_limit() -> int | None:
    """``OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`` when set to a whole number, else None.

    The SDK cuts attribute values there already; the redactor cuts every other
    exported string (names, status descriptions, log bodies) at the same length. An
    invalid value is the SDK's to report; the redactor then keeps its default.
    """
    raw = os.environ.get("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "").strip()
    return int(raw) if raw.isdigit() else None


def get_redactor() -> Redactor:
    """The active redactor (defaults when none was configured)."""
    redactor = _redactor
    if redactor is not None:
        return redactor
    with _lock:
        if _redactor is None:
            set_redactor(Redactor(RedactionConfig.build(max_length=value_length_limit())))
        return _redactor  # type: ignore[return-value]  # set just above


def set_redactor(redactor: Redactor) -> None:
    """Makes ``redactor`` the one every path uses."""
    global _redactor  # noqa: PLW0603 - the process-wide redactor
    _redactor = redactor
