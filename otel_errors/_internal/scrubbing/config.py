"""Redaction configuration: actions per rule, allow-list, optional detectors, user rules.

User rules come from a TOML file (``OTEL_ERRORS_REDACTION_RULES``)::

    [actions]                  # change what a built-in rule does
    email = "hash"             # mask (default), hash, or drop

    [[rules]]                  # add rules of your own
    name = "customer_id"
    value = 'CUST-[0-9]{6}'    # a regular expression found in values...
    action = "hash"

    [[rules]]
    name = "internal_header"
    key = 'x-internal-.*'      # ...or matched against whole attribute keys
    action = "drop"

Every problem (unknown action, invalid regex, unknown field, no ``value`` and no
``key``) is reported at start-up with the rule's name.
"""

from __future__ import annotations

import re
import secrets
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from otel_errors._internal.scrubbing.detectors import DEFAULT_MAX_LENGTH, DETECTORS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from pathlib import Path

ACTIONS = frozenset({"mask", "hash", "drop"})
BUILT_IN_RULES = frozenset({d.name for d in DETECTORS} | {"key_value", "secret_key", "user_id"})
OPTIONAL_DETECTORS = frozenset(d.name for d in DETECTORS if not d.default_on)
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class RedactionConfigError(ValueError):
    """The redaction configuration is invalid; the message names the rule and the problem."""


@dataclass(frozen=True)
class UserRule:
    """A rule from the configuration file."""

    name: str
    action: str
    value: re.Pattern[str] | None = None
    key: re.Pattern[str] | None = None


@dataclass(frozen=True)
class RedactionConfig:
    """Everything the engine needs; build it with :meth:`build`."""

    hash_key: bytes
    """HMAC key for the ``hash`` action."""
    hash_key_is_random: bool = False
    """No key was configured: hashes only correlate within this process."""
    allow_keys: frozenset[str] = frozenset()
    """Attribute keys (lower case) that pass untouched."""
    extra_detectors: frozenset[str] = frozenset()
    """Optional detectors switched on (``phone``, ``ip_address``)."""
    actions: Mapping[str, str] = field(default_factory=dict)
    """Action per built-in rule, where not ``mask`` (``user_id`` is ``hash``)."""
    rules: tuple[UserRule, ...] = ()
    max_length: int = DEFAULT_MAX_LENGTH
    """Characters of one value kept (and scanned); the rest is cut, with a marker."""

    @classmethod
    def build(
        cls,
        *,
        hash_key: str | bytes | None = None,
        random_key: bytes | None = None,
        allow_keys: Iterable[str] = (),
        extra_detectors: Iterable[str] = (),
        rules_file: Path | None = None,
        max_length: int | None = None,
    ) -> RedactionConfig:
        """Validates and assembles the configuration.

        ``max_length`` defaults to :data:`DEFAULT_MAX_LENGTH` (the standard
        ``OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT``, where set, is passed here). Without a
        ``hash_key``, hashes use ``random_key`` (drawn by the caller at start-up, so
        that forked children share it) or a key drawn now.

        Raises:
            RedactionConfigError: an unknown detector, or a problem in the rules file.
        """
        extra = frozenset(d.strip() for d in extra_detectors if d.strip())
        unknown = extra - OPTIONAL_DETECTORS
        if unknown:
            raise RedactionConfigError(
                f"unknown optional detectors {sorted(unknown)}; available: "
                f"{sorted(OPTIONAL_DETECTORS)}"
            )
        actions: dict[str, str] = {"user_id": "hash"}
        rules: tuple[UserRule, ...] = ()
        if rules_file is not None:
            file_actions, rules = _load_rules(rules_file)
            actions.update(file_actions)
        if isinstance(hash_key, str):
            hash_key = hash_key.encode("utf-8")
        return cls(
            hash_key=hash_key or random_key or secrets.token_bytes(32),
            hash_key_is_random=not hash_key,
            allow_keys=frozenset(k.strip().lower() for k in allow_keys if k.strip()),
            extra_detectors=extra,
            actions=actions,
            rules=rules,
            max_length=DEFAULT_MAX_LENGTH if max_length is None else max(0, max_length),
        )


def _load_rules(path: Path) -> tuple[dict[str, str], tuple[UserRule, ...]]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RedactionConfigError(f"cannot read redaction rules {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RedactionConfigError(f"redaction rules {path} are not valid TOML: {exc}") from None
    unknown = set(data) - {"actions", "rules"}
    if unknown:
        raise RedactionConfigError(f"redaction rules {path}: unknown tables {sorted(unknown)}")
    actions = data.get("actions", {})
    if not isinstance(actions, dict):
        raise RedactionConfigError(f"redaction rules {path}: [actions] must be a table")
    for rule, action in actions.items():
        if rule not in BUILT_IN_RULES:
            raise RedactionConfigError(
                f"redaction rules {path}: [actions] names unknown rule {rule!r}; "
                f"built-in rules: {sorted(BUILT_IN_RULES)}"
            )
        _check_action(path, rule, action)
    raw_rules = data.get("rules", [])
    if not isinstance(raw_rules, list):
        raise RedactionConfigError(f"redaction rules {path}: use [[rules]] tables")
    rules = tuple(_user_rule(path, raw) for raw in raw_rules)
    return dict(actions), rules


def _user_rule(path: Path, raw: Any) -> UserRule:
    if not isinstance(raw, dict):
        raise RedactionConfigError(f"redaction rules {path}: each [[rules]] must be a table")
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise RedactionConfigError(
            f"redaction rules {path}: rule name {name!r} must be lower_snake_case"
        )
    if name in BUILT_IN_RULES:
        raise RedactionConfigError(f"redaction rules {path}: rule {name!r} is built in")
    unknown = set(raw) - {"name", "value", "key", "action"}
    if unknown:
        raise RedactionConfigError(
            f"redaction rules {path}: rule {name!r}: unknown {sorted(unknown)}"
        )
    action = raw.get("action", "mask")
    _check_action(path, name, action)
    value, key = raw.get("value"), raw.get("key")
    if value is None and key is None:
        raise RedactionConfigError(f"redaction rules {path}: rule {name!r} needs value or key")
    return UserRule(
        name=name,
        action=action,
        value=_compile(path, name, "value", value),
        key=_compile(path, name, "key", key, flags=re.IGNORECASE),
    )


def _compile(
    path: Path, name: str, field_name: str, pattern: Any, flags: int = 0
) -> re.Pattern[str] | None:
    if pattern is None:
        return None
    if not isinstance(pattern, str) or not pattern:
        raise RedactionConfigError(
            f"redaction rules {path}: rule {name!r}: {field_name} must be a string"
        )
    try:
        return re.compile(pattern, flags)
    except re.error as exc:
        raise RedactionConfigError(
            f"redaction rules {path}: rule {name!r}: invalid {field_name} regex {pattern!r}: {exc}"
        ) from None


def _check_action(path: Path, rule: str, action: Any) -> None:
    if action not in ACTIONS:
        raise RedactionConfigError(
            f"redaction rules {path}: rule {rule!r}: action {action!r} is not one of "
            f"{sorted(ACTIONS)}"
        )
