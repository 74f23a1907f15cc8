"""The redactor the settings describe, and its start-up validation.

Setup puts it in the runtime, which shares it with the exporters, the JSON log
formatter and the errors counter, so that one configuration decides what is secret
everywhere (before setup the runtime uses the built-in rules).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from otel_errors._internal.config.environment_variables import (
    OTEL_ERRORS_REDACTION_EXTRA_DETECTORS,
    OTEL_ERRORS_REDACTION_RULES,
)
from otel_errors._internal.config.settings import value_length_limit
from otel_errors._internal.scrubbing import RedactionConfig, RedactionConfigError, Redactor

if TYPE_CHECKING:
    from otel_errors._internal.config.settings import Settings

logger = logging.getLogger("otel_errors")


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
