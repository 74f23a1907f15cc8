"""The redactor the settings describe, and its start-up validation.

Setup puts it in the runtime, which shares it with the exporters, the JSON log
formatter and the errors counter, so that one configuration decides what is secret
everywhere (before setup the runtime uses the built-in rules).

The redactor is built when first used, unless the settings name something to
validate (a rules file, optional detectors): a bad one is reported at start-up. The
hash key, when none is configured, is drawn at start-up either way, before any fork.
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

from otel_errors._internal.config.environment_variables import (
    OTEL_ERRORS_REDACTION_EXTRA_DETECTORS,
    OTEL_ERRORS_REDACTION_RULES,
)
from otel_errors._internal.config.settings import ConfigurationError, value_length_limit

if TYPE_CHECKING:
    from collections.abc import Callable

    from otel_errors._internal.config.settings import Settings
    from otel_errors._internal.scrubbing import RedactionConfig, Redactor

logger = logging.getLogger("otel_errors")


def redactor_source(settings: Settings, *, strict: bool) -> Redactor | Callable[[], Redactor]:
    """The configured redactor (switched off when redaction is), or how to build it later.

    Raises:
        ConfigurationError: with ``strict``, the rules file or the optional detectors
            are invalid; otherwise that is logged and the built-in rules are used.
    """
    random_key = secrets.token_bytes(32)
    if not (settings.enabled and settings.redaction):
        return lambda: _built_in(settings, random_key, enabled=False)
    if not (settings.redaction_rules or settings.redaction_extra_detectors):
        _announce_random_key(settings)
        return lambda: _configured(settings, random_key)
    from otel_errors._internal.scrubbing import RedactionConfigError

    try:
        config = _config(settings, random_key)
    except RedactionConfigError as exc:
        if strict:
            raise ConfigurationError(str(exc)) from None
        logger.error(  # noqa: TRY400 - one line, the message says everything
            "otel_errors: %s; redacting with the built-in rules only", exc
        )
        return _built_in(settings, random_key, enabled=True)
    _announce_random_key(settings)
    return _configured(settings, random_key, config)


def build_redactor(settings: Settings) -> Redactor:
    """The redactor the settings describe, built now.

    Raises:
        RedactionConfigError: the rules file or the optional detectors are invalid; the
            message names the variable.
    """
    redactor = _configured(settings, None)
    _announce_random_key(settings)
    return redactor


def _configured(
    settings: Settings, random_key: bytes | None, config: RedactionConfig | None = None
) -> Redactor:
    from otel_errors._internal.scrubbing import Redactor

    return Redactor(config if config is not None else _config(settings, random_key))


def _config(settings: Settings, random_key: bytes | None) -> RedactionConfig:
    from otel_errors._internal.scrubbing import RedactionConfig, RedactionConfigError

    try:
        return RedactionConfig.build(
            hash_key=settings.redaction_key or None,
            random_key=random_key,
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


def _announce_random_key(settings: Settings) -> None:
    if not settings.redaction_key:
        logger.info(
            "otel_errors: OTEL_ERRORS_REDACTION_KEY is not set; hashed values (user.hash) "
            "correlate within this process only"
        )


def _built_in(settings: Settings, random_key: bytes, *, enabled: bool) -> Redactor:
    from otel_errors._internal.scrubbing import RedactionConfig, Redactor

    config = RedactionConfig.build(hash_key=settings.redaction_key or None, random_key=random_key)
    return Redactor(config, enabled=enabled)
