"""The redaction engine: one pass over attribute maps and texts, no OpenTelemetry imports.

Why not logfire's or the collector's scrubbing: logfire's scrubber runs a dozen
regular expressions over every key and value and only masks; Sentry's scrubs keys.
Neither validates card numbers or IBANs, hashes values for correlation, or rewrites
``user.id`` into a hash. This engine does, and it is built for the span path:

- a key's verdict is cached (keys repeat across spans);
- short values found clean are remembered;
- ``find`` for trigger characters and shapes and one search for literals locate
  the anchors of all detectors (see ``detectors``); a detector runs only where
  its anchors are;
- a map that needs no change is returned as the same object, so callers skip
  rebuilding spans.

Markers never echo any part of a secret: ``[REDACTED:<rule>]``, or
``[HASH:<rule>:<16 hex>]`` (HMAC-SHA256 keyed by ``OTEL_ERRORS_REDACTION_KEY``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from otel_errors._internal.scrubbing.anchors import Anchors
from otel_errors._internal.scrubbing.carriers import original_span, views
from otel_errors._internal.scrubbing.detectors import DETECTORS
from otel_errors._internal.scrubbing.drop import DROP
from otel_errors._internal.scrubbing.key_values import value_on_next_line
from otel_errors._internal.scrubbing.keys import USER_HASH_KEY, USER_ID_KEYS, key_is_secret

if TYPE_CHECKING:
    from otel_errors._internal.scrubbing.config import RedactionConfig


_RECENT_SIZE = 256
"""Texts whose secrets are remembered (found spans, not values): messages repeat."""
_EXCEPTION_TYPE = re.compile(r"[A-Za-z_][\w.]{0,200}")
"""How the SDK and ``traceback`` write an exception: this type, ``": "``, its message."""
_CLEAN_CACHE_SIZE = 4096
_CLEAN_CACHE_MAX_LEN = 128
_LONG_CLEAN_CACHE_SIZE = 256
"""Long clean texts remembered: stack traces repeat in error storms (at most ~16 MB)."""
_BY_LINE_FROM = 256
"""Multi-line texts from this length are scanned line by line (see ``_scan_lines``)."""
_CLEAN_LINES_SIZE = 4096
_CLEAN_LINE_MAX_LEN = 1024
_CUT_MARGIN = 1024
"""Characters scanned past the cut: a secret that starts before it is replaced whole."""
_SCALARS = frozenset({bool, int, float})
_SECRET_KEY_RULE = "secret_key"  # noqa: S105 - a rule name
_USER_ID_RULE = "user_id"


class Redactor:
    """Applies a :class:`RedactionConfig`; thread-safe.

    Its caches are plain dictionaries: single operations on them are atomic, a lost
    insert only costs a rescan, and a clear just empties them.

    Args:
        config: Actions, allow-list, optional detectors and user rules.
        enabled: False makes every ``redact_*`` method return its input
            (``OTEL_ERRORS_REDACTION=false``); :meth:`hash` still hashes.
    """

    def __init__(self, config: RedactionConfig, *, enabled: bool = True) -> None:
        """Compiles the combined scan."""
        self.config = config
        self.enabled = enabled
        self._anchors = Anchors(
            [d for d in DETECTORS if d.default_on or d.name in config.extra_detectors]
        )
        self._max_length = config.max_length
        self._masks = {  # the marker of each rule whose action is to mask
            rule: f"[REDACTED:{rule}]"
            for rule in {d.name for d in DETECTORS} | {_SECRET_KEY_RULE}
            if config.actions.get(rule, "mask") == "mask"
        }
        self._value_rules = [r for r in config.rules if r.value is not None]
        self._key_rules = [r for r in config.rules if r.key is not None]
        self._keys: dict[str, tuple[str, str] | None] = {}
        self._clean: dict[str, None] = {}
        self._long_clean: dict[str, None] = {}
        self._clean_lines: dict[str, None] = {}
        self._recent: dict[str, list[tuple[int, int, str]]] = {}
        self._types: dict[str, bool] = {}  # of built-in secrets; user rules see whole texts

    # -- public API --------------------------------------------------------------

    def redact_attributes(
        self, attributes: Mapping[str, Any] | None
    ) -> tuple[Mapping[str, Any] | None, tuple[str, ...]]:
        """Redacts an attribute map.

        Returns:
            The same object when nothing changed (else a new ``dict``), and the names
            of the rules that fired, one per redaction (for the ``redactions`` counter).
        """
        fired: list[str] = []
        return self.attributes_into(attributes, fired), tuple(fired)

    def attributes_into(
        self, attributes: Mapping[str, Any] | None, fired: list[str]
    ) -> Mapping[str, Any] | None:
        """:meth:`redact_attributes`, adding the rules that fire to ``fired``.

        The exporters redact every part of a span into one list: no tuple per part.
        """
        if not attributes or not self.enabled:
            return attributes
        result: dict[str, Any] | None = None
        keys, clean = self._keys, self._clean
        for key, value in attributes.items():
            kind = value.__class__
            plain = keys.get(key, DROP) is None  # a key seen before that names nothing
            if plain and (kind in _SCALARS or (kind is str and value in clean)):
                # The fast path: a plain key seen before, a number or a value found clean.
                if result is not None:
                    result[key] = value
                continue
            new_value: Any  # a text's is a text, a pair's anything: compiled, the type is checked
            if plain and kind is str:
                new_key, new_value = key, self._text(value, fired)
            else:
                new_key, new_value = self._pair(key, value, fired)
            if result is None:
                if new_key is key and new_value is value:
                    continue
                result = _copy_until(attributes, key)
            if new_value is not DROP:
                result[new_key] = new_value
        return attributes if result is None else result

    def redact_text(self, text: str) -> tuple[str, tuple[str, ...]]:
        """Redacts secrets inside ``text``; returns the text and the rules that fired."""
        fired: list[str] = []
        return self.text_into(text, fired), tuple(fired)

    def text_into(self, text: str, fired: list[str]) -> str:
        """:meth:`redact_text`, adding the rules that fire to ``fired``."""
        if not self.enabled or text in self._clean:
            return text
        return self._text(text, fired)

    def redact_value(self, key: str, value: Any) -> tuple[Any, tuple[str, ...]]:
        """Redacts one attribute value (``DROP`` when the attribute must go)."""
        if not self.enabled:
            return value, ()
        fired: list[str] = []
        _, new_value = self._pair(key, value, fired)
        return new_value, tuple(fired)

    def hash(self, value: object) -> str:
        """16 hex characters of HMAC-SHA256 of ``value``, keyed by the configured key."""
        data = value if isinstance(value, bytes) else str(value).encode("utf-8", "replace")
        return hmac.new(self.config.hash_key, data, hashlib.sha256).hexdigest()[:16]

    # -- attributes ----------------------------------------------------------------

    def _pair(self, key: str, value: Any, fired: list[str]) -> tuple[str, Any]:
        verdict = self._keys.get(key, DROP)
        if verdict is DROP:
            verdict = self._key_verdict(key)
        if verdict is None or (
            verdict[0] != _USER_ID_RULE and value.__class__ is not str and not _is_texty(value)
        ):
            return key, self._value(value, fired)
        rule, action = verdict
        if rule == "allow":
            return key, value
        fired.append(rule)
        if action == "drop":
            return key, DROP
        if rule == _USER_ID_RULE and action == "hash":
            return USER_HASH_KEY, self.hash(value)
        if value.__class__ is not str and _is_sequence(value):  # keep the type: one marker each
            return key, tuple([self._marker(rule, item, action) for item in value])
        return key, self._marker(rule, value, action)

    def _key_verdict(self, key: str) -> tuple[str, str] | None:
        if key in self._keys:
            return self._keys[key]
        verdict = self._judge_key(key)
        if len(self._keys) >= _CLEAN_CACHE_SIZE:
            self._keys.clear()
        self._keys[key] = verdict
        return verdict

    def _judge_key(self, key: str) -> tuple[str, str] | None:
        lowered = key.lower()
        if lowered in self.config.allow_keys:
            return "allow", "keep"
        for rule in self._key_rules:
            if rule.key is not None and rule.key.fullmatch(key):
                return rule.name, rule.action
        if lowered in USER_ID_KEYS:
            return _USER_ID_RULE, self._action(_USER_ID_RULE)
        if key_is_secret(key):
            return _SECRET_KEY_RULE, self._action(_SECRET_KEY_RULE)
        return None

    def _value(self, value: Any, fired: list[str]) -> Any:
        if isinstance(value, str):
            return self._text(value, fired)
        if isinstance(value, bytes):
            text = value.decode("utf-8", "replace")
            redacted = self._text(text, fired)
            return value if redacted is text else redacted
        if isinstance(value, Mapping):  # a log body or extended attribute: keys count too
            mapping, rules = self.redact_attributes(value)
            fired += rules
            return mapping
        if _is_sequence(value):
            items = [self._value(item, fired) for item in value]
            if all(new is old for new, old in zip(items, value, strict=True)):
                return value
            return tuple(items)
        return value

    # -- text ----------------------------------------------------------------------

    def _text(self, text: str, fired: list[str]) -> str:
        size = len(text)
        clean = self._clean if size <= _CLEAN_CACHE_MAX_LEN else self._long_clean
        if text in clean:
            return text
        if size > self._max_length:
            return self._cut(text, fired)
        if _cannot_hold_builtin_secrets(text):
            redacted = text
        elif (lines := "\n" in text) and size >= _BY_LINE_FROM:
            redacted = self._scan_lines(text, fired)
        else:
            # One line may be an exception's ``Type: message`` (a span's status
            # description): what its message held is reused, as in a stack trace.
            found = self._found(text) if lines else self._line_found(text)
            if found:
                if not lines:
                    self._remember(text, found)
                redacted = self._replace(text, found, fired)
            else:
                redacted = text
        for rule in self._value_rules:
            redacted = self._user_rule(rule, redacted, fired)
        if redacted is text:
            limit = _CLEAN_CACHE_SIZE if clean is self._clean else _LONG_CLEAN_CACHE_SIZE
            if len(clean) >= limit:
                clean.clear()
            clean[text] = None
        return redacted

    def _cut(self, text: str, fired: list[str]) -> str:
        """The first ``max_length`` characters, scanned, and a marker of what was cut.

        No character is exported unscanned. The scan reaches ``_CUT_MARGIN`` past the
        cut, so a secret that starts before it is replaced whole, not cut in two.
        """
        limit = self._max_length
        window = text[: limit + _CUT_MARGIN]
        found = [secret for secret in self._found(window) if secret[0] < limit]
        end = max([limit, *(stop for _, stop, _ in found)])
        kept = self._replace(window[:end], found, fired) if found else window[:end]
        for rule in self._value_rules:
            kept = self._user_rule(rule, kept, fired)
        return f"{kept}…[cut: {len(text) - end} chars]"

    def _scan_lines(self, text: str, fired: list[str]) -> str:
        """``_scan_text`` for the lines not seen clean before, each run of them at once.

        A stack trace repeats its frame lines from one error to the next and changes
        in its message line; only that one is scanned. Consecutive new lines are
        scanned as one block (a text of new lines costs what a whole scan costs).
        Built-in secrets do not span lines, except PEM keys and a value on the line
        after its key: a text holding ``-----BEGIN``, or where a line ending with a
        key (``password:``) is the last before or in a block of new lines, is
        scanned whole.
        """
        if "-----BEGIN" in text:
            return self._scan_text(text, fired)
        lines = text.split("\n")
        known = self._clean_lines
        runs = _runs([index for index, line in enumerate(lines) if line not in known])
        if any(
            (end < len(lines) and _ends_with_key(lines, end - 1))
            or (start > 0 and _ends_with_key(lines, start - 1))
            for start, end in runs
        ):
            return self._scan_text(text, fired)  # a key line before a known or new one
        redacted_text: list[str] = []  # lines and redacted blocks, up to line ``done``
        done = 0
        for start, end in runs:
            block = "\n".join(lines[start:end])
            found = self._line_found(block) if end - start == 1 else self._found(block)
            if found:
                redacted_text += lines[done:start]
                redacted_text.append(self._replace(block, found, fired))
                done = end
            self._remember_clean(lines[start:end], found)
        return "\n".join(redacted_text + lines[done:]) if redacted_text else text

    def _remember_clean(self, lines: list[str], found: list[tuple[int, int, str]]) -> None:
        """Adds the ``lines`` of a block that no secret ``found`` in it touches."""
        known = self._clean_lines
        if len(known) + len(lines) > _CLEAN_LINES_SIZE:
            known.clear()
        if not found:
            known.update((line, None) for line in lines if len(line) <= _CLEAN_LINE_MAX_LEN)
            return
        offset = 0
        for line in lines:
            end = offset + len(line)
            if len(line) <= _CLEAN_LINE_MAX_LEN and not any(
                start < end and stop > offset for start, stop, _ in found
            ):
                known[line] = None
            offset = end + 1

    def _scan_text(self, text: str, fired: list[str]) -> str:
        found = self._found(text)
        return self._replace(text, found, fired) if found else text

    def _line_found(self, line: str) -> list[tuple[int, int, str]]:
        """``_found`` for a new line of a long text, reusing what a message held.

        An exception's message travels twice in its event: as ``exception.message``
        and after its type as the last line of ``exception.stacktrace``
        (``PermissionError: <message>``), and once more in the span's status
        description (the SDK writes ``f"{type}: {message}"`` there). What was found
        in a message is remembered for a while and reused there (a type naming a
        secret, ``InvalidTokenError: x``, is a key: that line is scanned whole).
        """
        colon = line.find(": ")
        if colon > 0:  # a type cannot hold ": ": the first one ends it
            offset = colon + 2
            message = line[offset:]
            known = [] if message in self._clean else self._recent.get(message)
            if (  # the message first: most lines are no message seen before
                known is not None
                and message
                and "\n" not in message
                and _EXCEPTION_TYPE.fullmatch(line, 0, colon)
                and not self._names_secret(line[:colon])
            ):
                return [(start + offset, end + offset, rule) for start, end, rule in known]
        return self._found(line)

    def _remember(self, text: str, found: list[tuple[int, int, str]]) -> None:
        """Keeps where the secrets of a one-line ``text`` are (see ``_line_found``).

        ``found`` itself, not a copy: ``_replace`` only sorts it, and ``_line_found``
        reads it.
        """
        if len(self._recent) >= _RECENT_SIZE:
            self._recent.clear()
        self._recent[text] = found

    def _names_secret(self, name: str) -> bool:
        verdict = self._types.get(name)
        if verdict is None:
            verdict = self._types[name] = key_is_secret(name) is not None
        return verdict

    def _found(self, text: str) -> list[tuple[int, int, str]]:
        """``(start, end, rule)`` of each secret in ``text`` (overlaps possible).

        Detectors also run over the text's decoded views (percent-encoding, JSON
        escapes, SQL quotes); what they find there is mapped back to the encoded
        characters.
        """
        found = self._anchors.secrets(text)
        # No escape of any carrier (see ``carriers``): no view. One character is looked
        # for with ``memchr``, two (``''``) with a slower search: only where a quote is.
        if "%" not in text and "\\" not in text and ("'" not in text or "''" not in text):
            return found
        for view in views(text):
            for start, end, name in self._anchors.secrets(view[0]):
                found.append((*original_span(view, start, end), name))
        return found

    def _replace(self, text: str, found: list[tuple[int, int, str]], fired: list[str]) -> str:
        """``text`` with each secret found replaced by its marker.

        Overlapping secrets are replaced as one, named after the longest of them: a
        key's value that holds a PEM block is hidden up to the block's end.
        """
        if len(found) == 1:
            start, end, name = found[0]
            fired.append(name)
            marker = self._masks.get(name) or self._marker(name, text[start:end])
            return f"{text[:start]}{marker}{text[end:]}"
        found.sort()
        merged: list[list[Any]] = []
        for start, end, name in found:
            if merged and start < merged[-1][1]:
                last = merged[-1]
                if end - start > last[3]:
                    last[2], last[3] = name, end - start
                last[1] = max(last[1], end)
            else:
                merged.append([start, end, name, end - start])
        pieces: list[str] = []
        last_end = 0
        for start, end, name, _ in merged:
            pieces.append(text[last_end:start])
            pieces.append(self._marker(name, text[start:end]))
            last_end = end
            fired.append(name)
        pieces.append(text[last_end:])
        return "".join(pieces)

    def _user_rule(self, rule: Any, text: str, fired: list[str]) -> str:
        def replace(match: re.Match[str]) -> str:
            fired.append(rule.name)
            return self._marker(rule.name, match.group(), rule.action)

        return str(rule.value.sub(replace, text)) if rule.value.search(text) else text

    def _marker(self, rule: str, secret: object, action: str | None = None) -> str:
        """The replacement of ``secret``; the rule's configured action unless given."""
        if action is None:
            marker = self._masks.get(rule)
            if marker is not None:
                return marker
            action = self.config.actions.get(rule)
        if action == "hash":
            return f"[HASH:{rule}:{self.hash(secret)}]"
        return f"[REDACTED:{rule}]"

    def _action(self, rule: str) -> str:
        return self.config.actions.get(rule, "mask")


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _ends_with_key(lines: list[str], index: int) -> bool:
    """Whether a value may follow ``lines[index]``: it, or the line above blanks, ends with a key.

    A value may sit up to three whitespace characters after its key: two blank lines
    below it.
    """
    for line in reversed(lines[max(0, index - 2) : index + 1]):
        if line.strip():
            return value_on_next_line(line)
    return False


def _runs(indexes: list[int]) -> list[tuple[int, int]]:
    """Sorted ``indexes`` as ``(start, end)`` runs: ``[1, 2, 5]`` -> ``(1, 3), (5, 6)``."""
    runs: list[tuple[int, int]] = []
    for index in indexes:
        if runs and runs[-1][1] == index:
            runs[-1] = (runs[-1][0], index + 1)
        else:
            runs.append((index, index + 1))
    return runs


def _copy_until(attributes: Mapping[str, Any], stop: str) -> dict[str, Any]:
    """The items of ``attributes`` before key ``stop``: the unchanged head of a copy."""
    head: dict[str, Any] = {}
    for key, value in attributes.items():
        if key == stop:
            break
        head[key] = value
    return head


def _cannot_hold_builtin_secrets(text: str) -> bool:
    """Hexadecimal digits in lower case (ids, digests) of 12 or more, or a UUID: no detector fires.

    Every built-in secret needs a letter past ``f``, an upper-case letter,
    punctuation, a space or digits alone (cards), except national identifiers
    written by hand in lower case, whose letters may all be hexadecimal
    (``ac390439a``, ``12345671f``): they have at most 11 characters. Skipping these
    common values saves a scan.
    """
    if text.isalnum():
        return len(text) >= _LONGEST_IDENTIFIER and text.islower() and not text.strip(_HEX)
    return len(text) == 36 and text[8] == "-" and _UUID.fullmatch(text) is not None  # noqa: PLR2004


_HEX = "0123456789abcdef"
_LONGEST_IDENTIFIER = 12
"""One more than the longest national identifier (a Finnish HETU: 11 characters)."""


def _is_texty(value: Any) -> bool:
    if isinstance(value, (str, bytes)):
        return True
    if isinstance(value, tuple) and value and value[0].__class__ is str:
        return True  # a tuple of strings, as the SDK stores a list of them
    return _is_sequence(value) and any(isinstance(v, (str, bytes)) for v in value)


def _is_sequence(value: Any) -> bool:
    """A sequence attribute value; tuples and lists first (an ABC check is slow)."""
    if isinstance(value, (tuple, list)):
        return True
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))
