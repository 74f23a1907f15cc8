r"""Values written after a key that names a secret, in the syntaxes text carries them in.

A value reaches telemetry inside a carrier: a query string (``?api_key=x``, also
percent-encoded: ``api_key%3Dx``), a header (``x-api-key: x``), JSON (``"token":
"x"``, and JSON inside a JSON string: ``\\"password\\": \\"x\\"``), SQL
(``password = 'x'``), a source line in a stack trace (``pw='x'``), a config or shell
line (``PASSWORD ?= x``, ``token := "x"``, ``$pass .= "x"``, C#'s ``@"x"``), XML
(``<password>x</password>``). So from each separator the detector reads back over
the carrier's punctuation to the whole identifier in front of it and asks
:func:`~otel_errors._internal.scrubbing.keys.key_is_secret` about it: the same
normalisation (case, separators, camelCase, joined words) as attribute keys get.
A quoted value runs to its closing quote, spaces included.

A value is not a secret when it is a placeholder (``${VAR}``, ``{{ var }}``,
``%(x)s``, ``null``) or when it is the next line's key (``GITHUB_TOKEN=`` above
``SLACK_TOKEN=``).
"""

from __future__ import annotations

import re
import string

from otel_errors._internal.scrubbing.keys import key_is_secret

_IDENTIFIER_CHARS = string.ascii_letters + string.digits + "_.-"
_MAX_IDENTIFIER = 64
_OPERATOR_CHARS = "?:.+!="
"""Characters before ``=`` that belong to the operator (``?=``, ``:=``, ``::=``, ``.=``)."""
_MAX_SPACES = 3
_QUOTES = "\"'`"
_OPERATOR = re.compile(
    r"(?:[?:.+!=]{0,3}=>?|:|>|,|%3[DdAa])[ \t]{0,3}(?:(?:\r?\n){1,2}[ \t]{0,16})?@?"
)
"""At a separator: the operator, up to three spaces, or up to two line breaks and an indent."""
_UNQUOTED = re.compile(
    r"(?:(?:[Bb]earer|[Bb]asic|[Tt]oken|[Dd]igest)\s+)?(?:[^\s\"'&,;)}\]<>%]|%(?!26|2[Cc]))"
    r"{3,512}"
)
"""An unquoted value: up to a delimiter (``&`` and ``%26`` end a query parameter)."""
_TEMPLATE_STARTS = ("${", "{{", "%(", "$(", "<%", "#{")
_TYPE_WORDS = frozenset({"string", "String", "str", "char", "bytes", "text"})
"""Type names written between a variable and its value: the variable is the key."""
_CLI_OPTION = re.compile(
    r"(?<![\w-])--?(?P<name>u|user|password|passwd|pass|token|api-key|secret)[ \t]{1,3}"
    r"(?P<value>\"[^\"\n]{1,512}\"|'[^'\n]{1,512}'|[^\s\"']{1,512})"
)
_NEXT_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*\s{0,3}[:=]")
_PLACEHOLDER = re.compile(
    r"(?:\$\{[^}]*\}+|\$[A-Z_][A-Z0-9_]*|\$[0-9]|\$\(.*|\[[A-Z_]+\]|\{\{[^}]*\}\}|%\([^)]*\)s|%s|\$[0-9]+|:[A-Za-z_]\w*|<[^<>]*>|\?|\*+|"
    r"null|none|nil|true|false|undefined|redacted|\[REDACTED[:\w]*\]|\[HASH:[:\w]*\])\Z",
    re.IGNORECASE,
)
_MAX_QUOTED = 1024
_CACHE_SIZE = 4096
_verdicts: dict[str, bool] = {}
"""Identifiers judged before: keys repeat across values (a lost insert costs a rescan)."""


def key_values(text: str, separators: list[int]) -> list[tuple[int, int]]:
    """Spans of values written after a secret key, from each separator in ``separators``."""
    spans: list[tuple[int, int]] = []
    for separator in separators:
        if follows_key(text, separator):
            span = _value_at(text, separator)
            if span is not None:
                spans.append(span)
    return spans


def follows_key(text: str, separator: int) -> bool:
    r"""Whether the separator at ``separator`` comes after an identifier naming a secret.

    Reads back over operator characters, up to three spaces, a closing quote (also
    escaped, ``\"``, or ``&quot;``) or the ``<`` of an XML tag, then the identifier.
    """
    char = text[separator]
    if char == ":" and text.startswith("//", separator + 1):
        return False  # a URL scheme
    end = _before_operator(text, separator)
    if char == ">":
        return _xml_key(text, end)
    if char == "," and text[end - 1 : end] not in _QUOTES:
        return False  # only a quoted key before a comma: setenv("TOKEN", "x")
    quoted = end > 0 and text[end - 1] in _QUOTES
    if quoted:
        end -= 2 if end > 1 and text[end - 2] == "\\" else 1
    elif text.endswith("&quot;", 0, end):
        end -= 6
    identifier = _identifier_before(text, end)
    if identifier in _TYPE_WORDS:  # var token string = "x"
        end -= len(identifier)
        while end > 0 and text[end - 1] in " \t:":
            end -= 1
        identifier = _identifier_before(text, end)
    return bool(identifier) and _is_secret(identifier)


def _identifier_before(text: str, end: int) -> str:
    """The identifier (letters, digits, ``_.-``) that ends at ``end``, at most 64 characters."""
    if end == 0 or text[end - 1] not in _IDENTIFIER_CHARS:
        return ""
    window = text[max(0, end - _MAX_IDENTIFIER) : end]
    return window[len(window.rstrip(_IDENTIFIER_CHARS)) :]


def _before_operator(text: str, separator: int) -> int:
    """Where the key ends: before the operator's other characters and up to three spaces."""
    end = separator
    if text[separator] == "=":
        while end > 0 and separator - end < 3 and text[end - 1] in _OPERATOR_CHARS:  # noqa: PLR2004
            end -= 1
    spaces = 0
    while end > 0 and spaces < _MAX_SPACES and text[end - 1] in " \t":
        end -= 1
        spaces += 1
    return end


def cli_values(text: str, options: list[int]) -> list[tuple[int, int]]:
    """Values of command-line options that carry credentials: ``curl -u user:password``.

    ``-u``/``--user`` values are credentials when they hold a ``:``; ``--password``,
    ``--token`` and the like always are (``--password=x`` is a ``key=value``).
    """
    spans: list[tuple[int, int]] = []
    for option in options:
        match = _CLI_OPTION.match(text, option)
        if match is None:
            continue
        start, end = match.span("value")
        while end - start > 1 and text[start] in _QUOTES and text[end - 1] == text[start]:
            start, end = start + 1, end - 1
        if match.group("name") in ("u", "user"):  # user:password, the password is secret
            colon = text.find(":", start, end)
            if colon == -1:
                continue
            # An API key as the user name and no password (``-u sk_test_x:``) is the secret.
            start, end = (colon + 1, end) if colon + 1 < end else (start, colon)
        if start < end and not _PLACEHOLDER.match(text, start, end):
            spans.append((start, end))
    return spans


def _xml_key(text: str, end: int) -> bool:
    """Whether ``text[:end]`` ends with an opening tag naming a secret: ``<password``."""
    identifier = _identifier_before(text, end)
    start = end - len(identifier)
    return bool(identifier) and start > 0 and text[start - 1] == "<" and _is_secret(identifier)


def _is_secret(identifier: str) -> bool:
    verdict = _verdicts.get(identifier)
    if verdict is None:
        verdict = key_is_secret(identifier.strip(".-")) is not None
        if len(_verdicts) >= _CACHE_SIZE:
            _verdicts.clear()
        _verdicts[identifier] = verdict
    return verdict


def _value_at(text: str, separator: int) -> tuple[int, int] | None:
    """The span of the value after the operator at ``separator``, if it may be a secret."""
    operator = _OPERATOR.match(text, separator)
    if operator is None:
        return None
    start = operator.end()
    if text.startswith(_TEMPLATE_STARTS, start) or (
        "\n" in operator.group() and _NEXT_KEY.match(text, start)
    ):
        return None  # a template (${DB_PASSWORD}), or no value and the next line's key
    span = _quoted(text, start)
    if span is None and text[separator] == ",":
        return None
    if span is None:
        match = _UNQUOTED.match(text, start)
        if match is None:
            return None
        span = match.span()
    value = text[span[0] : span[1]]
    if not value.strip() or _PLACEHOLDER.match(value):
        return None
    return span


def _quoted(text: str, start: int) -> tuple[int, int] | None:
    r"""The span inside quotes opening at ``start`` (``"x y"``, ``\\"x\\"``, ``&quot;x&quot;``).

    An unclosed quote runs to the end of the line (at most ``_MAX_QUOTED`` characters):
    a value cut short is still hidden.
    """
    if text.startswith("&quot;", start):
        closing, start = "&quot;", start + 6
    elif text.startswith("''", start):  # a quote inside an SQL string literal
        closing, start = "''", start + 2
    elif text.startswith(('\\"', "\\'"), start):
        closing, start = text[start : start + 2], start + 2
    elif text[start : start + 1] in _QUOTES and text[start : start + 1]:
        closing, start = text[start], start + 1
    else:
        return None
    limit = min(len(text), start + _MAX_QUOTED)
    end = text.find(closing, start, limit)
    while end > start and len(closing) == 1 and text[end - 1] == "\\":  # an escaped quote
        end = text.find(closing, end + 1, limit)
    line_end = text.find("\n", start, limit)
    if end == -1 or (line_end != -1 and line_end < end):
        end = line_end if line_end != -1 else limit
    return (start, end) if end > start else None


_CREDENTIAL_SCHEMES = ("bearer", "basic", "token", "digest")
_KEY_END_LAST = frozenset(":=>;\"'")
"""Last characters of a line ending in a separator (``=>``, an XML tag), a quote or ``&quot;``."""


def value_on_next_line(line: str) -> bool:
    """Whether ``line`` ends where a secret may follow on the next line.

    After a key and its separator (``password:``, ``"token": "``) or a credential
    scheme (``Authorization: Bearer``), the value patterns allow a line break.
    """
    end = line.rstrip()
    if end[-1:] not in _KEY_END_LAST:  # most lines: only a scheme can end them so
        return end[-6:].lower().endswith(_CREDENTIAL_SCHEMES)
    if end.endswith(">"):
        return _xml_key(end, len(end) - 1)
    end = end.removesuffix("&quot;").rstrip("\"'\\").rstrip()
    if end.endswith("=>"):
        end = end[:-1]
    return end.endswith((":", "=")) and follows_key(end, len(end) - 1)
