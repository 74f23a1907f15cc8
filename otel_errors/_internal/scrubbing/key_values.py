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
A quoted value runs to its closing quote, spaces included. Source code writes a
secret in a few more ways: a literal compared with a secret variable
(``if ("x" == password)``), passed to a constructor or setter named after one
(``std::string secret("x")``, ``setPassword("x")``), or after a key without an
operator (``password "x";``).

The separators are found by one search over the value written backwards: from each
``=`` or ``:`` the pattern reads the operator, spaces, a closing quote and the key
in one ``match``, so a separator after an ordinary key costs no Python code.

A value is not a secret when it is a placeholder (``${VAR}``, ``{{ var }}``,
``%(x)s``, ``null``, ``xxx``, the word ``password`` itself, a type annotation
(``password: str``, source lines in stack traces), a key of AWS's
documentation such as ``AKIAIOSFODNN7EXAMPLE``), a reference to a
variable of the same name (``password = self.password``), or the next line's key
(``GITHUB_TOKEN=`` above ``SLACK_TOKEN=``).
"""

from __future__ import annotations

import re
import string

from otel_errors._internal.scrubbing.keys import key_is_secret
from otel_errors._internal.scrubbing.templates import template_of
from otel_errors._internal.scrubbing.validators import documented_example

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
_UNQUOTED_BODY = r"[^\s\"'&,;)}\]<>%]{0,512}(?:%(?!26|2[Cc])[^\s\"'&,;)}\]<>%]{0,512}){0,64}"
_SCHEMES = r"(?:[Bb]earer|[Bb]asic|[Tt]oken|[Dd]igest)\s+"
"""Common schemes: a line break may follow them (a wrapped header)."""
_UNQUOTED = re.compile(f"({_SCHEMES})?{_UNQUOTED_BODY}")
"""An unquoted value: up to a delimiter (``&`` and ``%26`` end a query parameter)."""
_ANY_SCHEME = r"[A-Za-z][A-Za-z0-9!#$*+.^_|~-]{0,63}[ \t]+"
_CREDENTIALS = re.compile(f"({_SCHEMES}|{_ANY_SCHEME})?{_UNQUOTED_BODY}")
"""An ``Authorization`` value: credentials after a scheme of any name (RFC 9110's
``auth-scheme``: ``Api-Token x``, ``SSWS x``), or a credential alone."""
_MIN_UNQUOTED = 3
_SPACED = re.compile(r"((?:[Bb]earer|[Bb]asic|[Tt]oken|[Dd]igest)[ \t]+)?\S{1,512}")
"""An unquoted value after an operator between spaces: up to the next space."""
_TEMPLATE_STARTS = ("${", "{{", "%(", "$(", "<%", "#{")
_ALREADY_REDACTED = re.compile(r"\[(?:REDACTED|HASH)(?::[\w:]*)?\]")
"""Our own replacements, whole: a value redacted on the way in (log fields) is not
redacted again on the way out (an unquoted value stops before ``]``, so the
placeholder check alone would miss them and leave ``[REDACTED:key_value]]``)."""
_TYPE_WORDS = frozenset({"string", "String", "str", "char", "bytes", "text"})
"""Type names written between a variable and its value: the variable is the key."""
_CLI_OPTION = re.compile(
    r"(?<![\w-])--?(?P<name>u|user|password|passwd|pass|token|api-key|secret)[ \t]{1,3}"
    r"(?P<value>\"[^\"\n]{1,512}\"(?::\"[^\"\n]{0,512}\")?|'[^'\n]{1,512}'|[^\s\"']{1,512})"
)
_NEXT_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*\s{0,3}[:=]")
_PLACEHOLDER = re.compile(
    r"(?:\$\{[^}]*\}+|\$[A-Z_][A-Z0-9_]*|\$[0-9]|\$\(.*|\[[A-Z_]+\]|\{\{[^}]*\}\}|%\([^)]*\)s|%s|\$[0-9]+|:[A-Za-z_]\w*|<[^<>]*>|\?|\*+|"
    r"null|none|nil|true|false|undefined|redacted|\[REDACTED[:\w]*\]|\[HASH:[:\w]*\]|"
    r"str|bytes|int|float|bool|any|object|secret(?:str|bytes)|"  # a type annotation
    r"(?:optional|union|list|dict|tuple|sequence|mapping|type)\[.*|"
    r"(?P<repeated>.)(?P=repeated){2,}|"
    r"(?:your[_-]?|my[_-]?)?(?:password|passwd|pass|pwd|secret|token|api[_-]?key|key)s?)\Z",
    re.IGNORECASE,
)
_MAX_QUOTED = 1024
_CACHE_SIZE = 4096
_verdicts: dict[str, bool] = {}
"""Identifiers judged before: keys repeat across values (a lost insert costs a rescan)."""


_BACKWARDS = re.compile(
    r"(?P<separator>=(?P<operator>[?:.+!=]{0,3})|:(?<!//:)"
    r"|\"(?:\((?P<call>)|(?P<opening>)[ \t]{1,3})|'\((?P<single_call>)"
    r"|,(?=[ \t]{0,3}[\"'])(?P<comma>)|>(?=[A-Za-z0-9_.-]{1,64}<)(?P<tag>))"
    r"[ \t]{0,3}(?:\][0-9]{0,4}\[)?(?:\"\\?|'\\?|`|;touq&)?"
    r"(?P<key>[A-Za-z0-9_.-]{1,64})"
)
"""Read backwards from a separator: operator, spaces, array brackets, closing quote, key.

Besides ``=`` (after ``?:.+!=``) and ``:`` (not a URL's ``://``): a call's ``("``,
a value's opening quote after a space (``key "x"``), a comma after a quoted key
(``setenv("TOKEN", "x")``) and the end of an XML tag (``<password>x``). Each
alternative starts with a plain character, so ``re`` skips to the candidates in C.
"""
_KEY, _SEPARATOR, _OPERATOR_GROUP, _CALL_GROUP, _SINGLE_CALL_GROUP, _OPENING_GROUP, _TAG_GROUP = (
    _BACKWARDS.groupindex[name]
    for name in ("key", "separator", "operator", "call", "single_call", "opening", "tag")
)
"""Group numbers: a look-up by name costs a dictionary search per match."""
_GETTERS = ("get", "fetch", "read", "load", "lookup", "find", "has", "delete", "remove")
"""A call of a function named so takes a secret's name, not the secret."""
_STATEMENT_END = re.compile(r"[ \t]*(?:[;,)}\]]|$)", re.MULTILINE)


def key_values(text: str, _: list[int]) -> list[tuple[int, int]]:
    """Spans of values written after a key that names a secret, in ``text``.

    One backwards search finds the keys before every separator (see ``_BACKWARDS``);
    verdicts are remembered by the key as read backwards. Comparisons and
    command-line options are looked for where ``==``, ``!=`` or `` -`` is.
    """
    template = template_of(text)
    if template in _keyless:
        return []
    spans: list[tuple[int, int]] = []
    length = len(text)
    verdicts = _backward_verdicts
    backwards = text[::-1]
    named = False  # a key names a secret (or a type): what is found may depend on digits
    match = _BACKWARDS.search(backwards)  # ``search`` from each end: ``finditer`` costs more
    while match is not None:
        key = match.group(_KEY)
        verdict = verdicts.get(key)
        if verdict is None:
            verdict = _judge_backwards(key)
        if verdict:
            named = True
            span = _value_of(text, match, length - match.end(_SEPARATOR), verdict)
            if span is not None:
                spans.append(span)
        match = _BACKWARDS.search(backwards, match.end())
    if "=" in text and ("==" in text or ("!" in text and "!=" in text)):  # memchr first
        named = True
        spans += _compared_values(text)
    if "-" in text and (" -" in text or text.startswith("-")):
        named = True
        spans += _cli_values(text)
    if not named and template is not None:
        if len(_keyless) >= _CACHE_SIZE:
            _keyless.clear()
        _keyless[template] = None
    return spans


def _value_of(
    text: str, match: re.Match[str], separator: int, verdict: int
) -> tuple[int, int] | None:
    """The value after the key of ``match`` (a backwards match) and its separator."""
    if verdict == _TYPE_WORD and not follows_key(text, separator):
        return None  # var token string = "x": the variable before the type is the key
    if match[_CALL_GROUP] is not None or match[_SINGLE_CALL_GROUP] is not None:
        return _called_with(text, match[_KEY][::-1], separator + 1)
    if match[_OPENING_GROUP] is not None:
        return _statement_value(text, len(text) - 1 - match.start())
    if match[_TAG_GROUP] is not None:
        return _element_text(text, separator)
    span = _value_at(text, separator, authorization=verdict == _AUTHORIZATION)
    if span is not None and match[_OPERATOR_GROUP] is not None and _is_code(text, span, match):
        return None
    return span


_SECRET, _TYPE_WORD, _AUTHORIZATION = 1, 2, 3
"""Verdicts on a key besides 0 (not secret): it names a secret, it is a type name, or it
names an HTTP authorization (its value is a scheme and credentials)."""
_AUTH_WORDS = ("authorization", "auth")
_backward_verdicts: dict[str, int] = {}
"""Verdicts by key as read backwards (keys repeat across values; a lost insert costs a rescan)."""
_keyless: dict[bytes, None] = {}
"""Templates (see ``templates``) of values where no key names a secret.

Keys, separators and the verdict on a key treat the ten digits alike; only a value
may not (``password=111`` is a placeholder, ``password=123`` is not). A value with
no key naming a secret, no comparison and no command-line option finds nothing
whatever its digits: such a template is not read again."""


def _judge_backwards(backwards_key: str) -> int:
    key = backwards_key[::-1]
    if key in _TYPE_WORDS:
        verdict = _TYPE_WORD
    else:
        word = key_is_secret(key.strip(".-"))
        verdict = 0 if word is None else _AUTHORIZATION if word in _AUTH_WORDS else _SECRET
    if len(_backward_verdicts) >= _CACHE_SIZE:
        _backward_verdicts.clear()
    _backward_verdicts[backwards_key] = verdict
    return verdict


def _called_with(text: str, function: str, quote: int) -> tuple[int, int] | None:
    """The quoted argument of ``secret("x")`` or ``setPassword("x")``, not of a getter."""
    name = function.rsplit(".", 1)[-1].lstrip("_").lower()
    if name.startswith(_GETTERS):
        return None
    return _literal(text, quote)


def _statement_value(text: str, quote: int) -> tuple[int, int] | None:
    """The quoted value of ``password "x";``: a statement that ends after it."""
    span = _literal(text, quote)
    if span is None or not _STATEMENT_END.match(text, span[1] + 1):
        return None
    return span


def _literal(text: str, quote: int) -> tuple[int, int] | None:
    span = _quoted(text, quote)
    if span is None or _PLACEHOLDER.match(text, span[0], span[1]):
        return None
    return span


def _is_code(text: str, span: tuple[int, int], match: re.Match[str]) -> bool:
    """Whether an unquoted value after ``=`` is code: a call or the key's own name.

    Source code that calls a function for a secret (``secret = get_secret("db")``) or
    copies it from a variable (``password = self.password``) writes no secret.
    """
    value = text[span[0] : span[1]]
    if ("." not in value and "(" not in value) or text[span[0] - 1 : span[0]] in _QUOTES:
        return False
    if _CALL.match(value):
        return True
    name = value.rsplit(".", 1)
    key = match[_KEY][::-1].rsplit(".", 1)[-1]
    return len(name) == 2 and name[1].lower() == key.lower()  # noqa: PLR2004


_CALL = re.compile(r"[A-Za-z_][\w.]*\(")


def _compared_values(text: str) -> list[tuple[int, int]]:
    """Literals compared with a secret variable: ``if ("x" == password)``, ``"x" !== secret``."""
    spans: list[tuple[int, int]] = []
    for match in _COMPARED.finditer(text):
        if not _is_secret(match.group("key")):
            continue
        end = _before_operator(text, match.start())
        if end == 0 or text[end - 1] not in _QUOTES:
            continue
        quote = text[end - 1]
        start = text.rfind(quote, max(0, end - 1 - _MAX_QUOTED), end - 1)
        if (
            start != -1
            and start + 1 < end - 1
            and "\n" not in text[start:end]
            and not _PLACEHOLDER.match(text, start + 1, end - 1)
        ):
            spans.append((start + 1, end - 1))
    return spans


_COMPARED = re.compile(r"(?:==|!=)=?[ \t]{0,3}(?P<key>[A-Za-z_][A-Za-z0-9_.]{0,63})(?![\w(])")


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


def _cli_values(text: str) -> list[tuple[int, int]]:
    """Values of command-line options that carry credentials: ``curl -u user:password``.

    ``-u``/``--user`` values are credentials when they hold a ``:``; ``--password``,
    ``--token`` and the like always are (``--password=x`` is a ``key=value``). An
    option starts the text or follows a space. Examples in documentation are not
    secrets: a placeholder (``<user:password>``, ``xxx:yyy``, ``user:pass``, the
    user name again: ``test:test``).
    """
    spans: list[tuple[int, int]] = []
    option = 0 if text.startswith("-") else text.find(" -") + 1
    while option != 0 or text.startswith("-"):
        match = _CLI_OPTION.match(text, option)
        if match is not None:
            span = _credential(text, *match.span("value"), user=match["name"] in ("u", "user"))
            if span is not None:
                spans.append(span)
        option = text.find(" -", option + 1) + 1
        if option == 0:
            break
    return spans


def _credential(text: str, start: int, end: int, *, user: bool) -> tuple[int, int] | None:
    """The secret part of an option's value ``text[start:end]``, unless a placeholder."""
    start, end = _unquote(text, start, end)
    if _PLACEHOLDER.match(text, start, end):
        return None
    if user:  # user:password, the password is secret
        colon = text.find(":", start, end)
        if colon == -1:
            return None
        name_start, name_end = _unquote(text, start, colon)
        start, end = _unquote(text, colon + 1, end)
        if start == end:  # an API key as the user name, no password: ``-u sk_test_x:``
            start, end = name_start, name_end
        elif text[start:end] == text[name_start:name_end]:
            return None  # test:test, admin:admin: an example
    if start == end or _PLACEHOLDER.match(text, start, end):
        return None
    return start, end


def _unquote(text: str, start: int, end: int) -> tuple[int, int]:
    """``start:end`` without the quotes around it (``"user":"x"`` has two pairs)."""
    while start < end and text[start] in _QUOTES:
        start += 1
    while end > start and text[end - 1] in _QUOTES:
        end -= 1
    return start, end


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


def _element_text(text: str, separator: int) -> tuple[int, int] | None:
    """The text of an XML element after the ``>`` at ``separator``, up to the next tag.

    An element holds its value whole, spaces and line breaks included (a Jenkins
    credential: ``<secret>{AQAAABAAA x}</secret>``), trimmed. With no tag after it
    (a value cut short), it is read as a value after ``=`` is.
    """
    start = separator + 1
    end = text.find("<", start, start + _MAX_QUOTED)
    if end == -1:
        return _value_at(text, separator)
    element = text[start:end]
    value = element.strip()
    if (
        not value
        or _ALREADY_REDACTED.match(value)
        or value.startswith(_TEMPLATE_STARTS)
        or _no_secret(value)
    ):
        return None
    start += len(element) - len(element.lstrip())
    return start, start + len(value)


def _value_at(text: str, separator: int, *, authorization: bool = False) -> tuple[int, int] | None:
    """The span of the value after the operator at ``separator``, if it may be a secret.

    After an operator between spaces (``secret = x``, a line of code or configuration)
    an unquoted value runs to the next space; elsewhere (``a=x&b=y``, ``a=x, b=y``) to
    the carrier's delimiter.
    """
    operator = _OPERATOR.match(text, separator)
    if operator is None:
        return None
    start = operator.end()
    plain = text[start : start + 1].isalnum()  # most values: no marker, template or quote
    if (
        not plain
        and (_ALREADY_REDACTED.match(text, start) or text.startswith(_TEMPLATE_STARTS, start))
    ) or (
        start - separator > 1  # a line break takes a character after the separator
        and text.find("\n", separator, start) != -1
        and _NEXT_KEY.match(text, start)
    ):
        return None  # ours already, a template (${DB_PASSWORD}), or no value and the next key
    span = None if plain else _quoted(text, start)
    if span is not None:
        value = text[span[0] : span[1]]
    elif text[separator] == ",":
        return None
    else:
        value = _unquoted(text, separator, start, authorization=authorization)
        span = start, start + len(value)
    if not value or not (plain or value.strip()) or _no_secret(value):  # plain: a letter or digit
        return None
    return span


def _unquoted(text: str, separator: int, start: int, *, authorization: bool) -> str:
    """The unquoted value at ``start``; empty when too short or a scheme without credential."""
    spaced = text[separator - 1 : separator] in " \t" and text[start - 1 : start] in " \t"
    values = _CREDENTIALS if authorization else _SPACED if spaced and separator else _UNQUOTED
    match = values.match(text, start)
    if match is None or match.end() - start < _MIN_UNQUOTED:
        return ""
    value = match.group().rstrip(",;)}]>")
    if value.endswith(_ESCAPE_AT_END):  # a quote escaped in a JSON string ends it
        value = value.removesuffix('"').removesuffix("'").rstrip("\\")
    scheme = match.end(1) - start  # group 1: a credential's scheme (``Bearer``), if any
    if scheme > 0 and (scheme == len(value) or _no_secret(value[scheme:])):
        return ""  # Bearer <token>, Bearer XXXX, Basic ...: documentation
    return value


def _no_secret(value: str) -> bool:
    """Whether a value found after a key is a placeholder or a documented example."""
    return (
        _may_be_placeholder(value) and _PLACEHOLDER.match(value) is not None
    ) or documented_example(value)


def placeholder(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` is a placeholder (``pass``, ``***``, ``${VAR}``, ...)."""
    return _PLACEHOLDER.match(text, start, end) is not None


def _may_be_placeholder(value: str) -> bool:
    """False for most values: one starting with a letter or digit, not a word, not ``xxx``.

    Placeholders start with ``$ { % : < [ ? *``, are a word (``null``, ``password``,
    a type: ``str``), a generic type (``Optional[str``), or one character repeated.
    """
    return not value[0].isalnum() or value.isalpha() or value[:3] == value[0] * 3 or "[" in value


def _quoted(text: str, start: int) -> tuple[int, int] | None:
    r"""The span inside quotes opening at ``start`` (``"x y"``, ``\\"x\\"``, ``&quot;x&quot;``).

    An unclosed quote runs to the end of the line (at most ``_MAX_QUOTED`` characters):
    a value cut short is still hidden.
    """
    if text[start : start + 1] not in _QUOTE_STARTS:
        return None
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


_ESCAPE_AT_END = ("\\", '\\"', "\\'")
"""How an unquoted value inside a JSON string ends: before ``\\"``, whose escape stays
(replacing it with the value would end the JSON string early)."""
_QUOTE_STARTS = frozenset("\"'`&\\")
"""First characters of a quoted value: a quote, an escaped quote or ``&quot;``."""
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
