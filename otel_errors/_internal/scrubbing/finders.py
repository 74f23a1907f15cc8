"""Finders: given a value and the positions of their anchors, the spans of secrets.

Most are one anchored ``match`` per anchor (:func:`anchored`); e-mails, cards and
URL passwords need a look around the anchor first.
"""

from __future__ import annotations

import base64
import binascii
import re
import string
from typing import TYPE_CHECKING

from otel_errors._internal.scrubbing.key_values import placeholder
from otel_errors._internal.scrubbing.validators import es_dni_ok, fi_hetu_ok, luhn_ok

if TYPE_CHECKING:
    from collections.abc import Callable

    Finder = Callable[[str, list[int]], list[tuple[int, int]]]
    """``(text, trigger positions) -> [(start, end), ...]`` of secret spans."""


def word_start(text: str, index: int) -> bool:
    """Whether ``text[index]`` starts a word (not after a letter, digit or ``_``)."""
    return index == 0 or not (text[index - 1].isalnum() or text[index - 1] == "_")


def anchored(
    pattern: str,
    *,
    back: int = 0,
    at_word_start: bool = True,
    validate: Callable[[str], bool] | None = None,
) -> Finder:
    """A finder that matches ``pattern`` ``back`` characters before each trigger.

    Triggers inside a secret already found are skipped (the digit groups of a card).
    The pattern is compiled on the first call (not at start-up: most never fire).
    """
    compiled: re.Pattern[str] | None = None

    def find(text: str, starts: list[int]) -> list[tuple[int, int]]:
        nonlocal compiled
        if compiled is None:
            compiled = re.compile(pattern)
        spans: list[tuple[int, int]] = []
        covered = -1
        for trigger in starts:
            start = trigger - back
            if start < covered or start < 0 or (at_word_start and not word_start(text, start)):
                continue
            match = compiled.match(text, start)
            if match is not None:
                span = match.span("secret")
                if validate is None or validate(text[span[0] : span[1]]):
                    spans.append(span)
                    covered = span[1]
        return spans

    return find


def scanning(pattern: str, validate: Callable[[str], bool]) -> Finder:
    """A finder that searches the whole value: for optional detectors without an anchor.

    A candidate must start a word (checked here: a look-behind in ``pattern`` makes
    ``re`` try every position) and end one (``pattern`` checks with a look-ahead).
    """
    compiled: re.Pattern[str] | None = None

    def find(text: str, _: list[int]) -> list[tuple[int, int]]:
        nonlocal compiled
        if compiled is None:  # on the first call, as in ``anchored``
            compiled = re.compile(pattern)
        return [
            match.span()
            for match in compiled.finditer(text)
            if word_start(text, match.start()) and validate(match.group())
        ]

    return find


_LOCAL_ASCII = string.ascii_letters + string.digits + "_.%+-"
"""Characters of a local part; a non-ASCII letter before them sends the search to ``re``."""
_EMAIL_LOCAL_START = re.compile(r"[\s\S]*[^\w.%+-]")
_EMAIL_SHAPE = (
    r"(?P<secret>[\w.%+-]{1,64}(?:@|%40)[^\W_][\w-]{0,62}(?:\.[^\W_][\w-]{0,62})*"
    r"\.(?:[^\W\d_]{2,24}|xn--[A-Za-z0-9-]{1,59}))(?![\w-])"
)
"""Local part, ``@``, domain labels (internationalised ones too), a TLD of letters or punycode."""
_EMAIL = re.compile(_EMAIL_SHAPE)
_ASCII_EMAIL = re.compile(
    _EMAIL_SHAPE.replace(r"[^\W\d_]", "[A-Za-z]")
    .replace(r"[^\W_]", "[A-Za-z0-9]")
    .replace(r"\w", "A-Za-z0-9_")
)
"""The same for an ASCII text: classes of ranges, which ``re`` checks faster than a word class."""


def emails(text: str, starts: list[int]) -> list[tuple[int, int]]:
    """E-mail addresses around each ``@`` (or ``%40`` in URLs) in ``starts``.

    Not the password and host of a URL (``scheme://user:password@host``): that is the
    ``url_password`` rule's, which keeps the host and knows documentation's
    placeholders (``user:password@``). Percent-encoded, a colon (``%3A``) is no part of
    an address: such a URL is read in the value's decoded view.
    """
    spans: list[tuple[int, int]] = []
    for at in starts:
        window = max(0, at - 64)
        head = text[window:at]
        local = at - (len(head) - len(head.rstrip(_LOCAL_ASCII)))
        if local > window and (text[local - 1].isalnum() or text[local - 1] == "_"):
            before = _EMAIL_LOCAL_START.match(text, window, at)  # a non-ASCII local part
            local = before.end() if before is not None else window
        if (local > 0 and text[local - 1] == ":" and _in_user_information(text, local - 1)) or (
            "%" in head and "%3a" in text[local:at].lower()
        ):
            continue  # a URL's user information, also percent-encoded (its decoded view tells)
        if local < at:
            match = (_ASCII_EMAIL if text.isascii() else _EMAIL).match(text, local)
            if match is not None:
                spans.append(match.span("secret"))
    return spans


def _in_user_information(text: str, colon: int) -> bool:
    """Whether the ``:`` at ``colon`` separates a URL's user name from its password."""
    scheme = text.rfind("://", max(0, colon - _MAX_USER - 3), colon)
    return scheme != -1 and _URL_USER.fullmatch(text, scheme + 3, colon) is not None


_CARD_CANDIDATE = re.compile(r"[0-9][0-9 -]{10,46}[0-9](?![A-Za-z0-9])")
"""Digits with spaces or dashes between them: a card number, maybe more numbers after it."""
_IBAN_HEAD = re.compile(
    r"[A-Z]{2}[0-9]{2}[ -]?\Z|(?<![A-Za-z0-9])[A-Z]{2}[0-9]{2}[ -]?[A-Za-z0-9]{4}[ -]?\Z"
)
"""What an IBAN starts with: country code, check digits, maybe a bank code (``GB82 WEST``,
starting a word: inside a token, ``YH85GKD9-`` is no IBAN's head)."""
_ASCII_DIGITS = string.digits
"""The head ends with a digit, or a digit and a separator: looked at before searching."""
_DIGIT_CHARS = frozenset(string.digits)
"""One character: ``in`` on a string would also take the empty slice at a text's start."""


def cards(text: str, starts: list[int]) -> list[tuple[int, int]]:
    """Card numbers starting at ``starts`` (word starts): the longest leading groups that pass.

    Dropping groups from the end finds the number in ``4111 1111 1111 1111 12/27``
    (an expiry date after it), which one greedy match would take for 18 digits. Digit
    groups after an IBAN's country code and check digits (``DE89 3704 ...``), and its
    bank code (``GB82 WEST ...``), belong to the IBAN, valid or not. Digits around a
    decimal point are a decimal number
    (``0.6394737362861633``, ``368973209407.27``), and a number is written with one
    kind of separator: a change (``10045 2025-03-09``, a number and a date) ends it.
    """
    spans: list[tuple[int, int]] = []
    covered = -1
    for start in starts:
        if start < covered or (
            start > 1 and text[start - 1] == "." and text[start - 2] in _ASCII_DIGITS
        ):
            continue
        if (
            start > 3  # noqa: PLR2004 - the head: two letters, two digits, maybe a separator
            and (
                text[start - 1] in _ASCII_DIGITS
                or text[start - 2] in _ASCII_DIGITS
                or text[start - 7 : start - 6] in _DIGIT_CHARS  # and a bank code: GB82 WEST
            )
            and _IBAN_HEAD.search(text, max(0, start - 10), start)
        ):
            continue
        match = _CARD_CANDIDATE.match(text, start)
        if match is None or (
            text.startswith(".", match.end()) and text[match.end() + 1 : match.end() + 2].isdigit()
        ):
            continue  # none, or a decimal number's integer part
        candidate = _one_separator(match.group())
        end = len(candidate)
        while end >= 12:  # noqa: PLR2004 - the shortest card number (Maestro)
            if luhn_ok(candidate[:end]):
                covered = start + end
                spans.append((start, covered))
                break
            end = max(candidate.rfind(" ", 0, end), candidate.rfind("-", 0, end))  # -1: none
            end = len(candidate[:end].rstrip(" -")) if end > 0 else 0
    return spans


def _one_separator(candidate: str) -> str:
    """``candidate`` up to where its separator changes from space to dash or back."""
    if " " in candidate and "-" in candidate:
        first = min(candidate.find(" "), candidate.find("-"))
        other = "-" if candidate[first] == " " else " "
        return candidate[: candidate.find(other)].rstrip(" -")
    return candidate


def longest_valid(pattern: str, validate: Callable[[str], bool], separators: str) -> Finder:
    """A finder like :func:`anchored` that drops trailing groups until ``validate`` passes.

    ``BE68 5390 0754 7034 EUR``: the currency after an IBAN looks like one more group.
    """
    compiled = re.compile(pattern)

    def find(text: str, starts: list[int]) -> list[tuple[int, int]]:
        spans: list[tuple[int, int]] = []
        covered = -1
        for start in starts:
            match = compiled.match(text, start) if start >= covered else None
            if match is None:
                continue
            candidate = match.group()
            while candidate:
                if validate(candidate):
                    covered = start + len(candidate)
                    spans.append((start, covered))
                    break
                cut = max(candidate.rfind(separator) for separator in separators)
                candidate = candidate[:cut] if cut > 0 else ""
        return spans

    return find


def url_passwords(text: str, _: list[int]) -> list[tuple[int, int]]:
    """Passwords in the user information of URLs (``scheme://user:password@host``).

    Documentation's placeholders are no secret, as on a command line (see
    ``key_values``): ``user:pass``, ``:secret@``, ``***:***``, and a password that
    repeats the user name (``guest:guest``).
    """
    if "@" not in text:
        return []
    schemes = []
    index = text.find("://")
    while index != -1:
        schemes.append(index)
        index = text.find("://", index + 3)
    return [
        (start, end)
        for start, end in _URL_PASSWORD(text, schemes)
        if not placeholder(text, start, end)
        and text[start:end] != text[text.rfind("://", 0, start) + 3 : start - 1]
    ]


_USERINFO = r"[^\s:/?#@\[\]\"'<>`{}|\\^]"
"""RFC 3986 user information: no delimiters, quotes or brackets (``"https://h:80";@x``)."""
_MAX_USER = 128
_URL_PASSWORD = anchored(
    rf"://{_USERINFO}{{0,{_MAX_USER}}}:(?P<secret>{_USERINFO}{{1,256}})@", at_word_start=False
)
_URL_USER = re.compile(rf"{_USERINFO}{{0,{_MAX_USER}}}")


def jwt_ok(token: str) -> bool:
    """Whether ``token`` has a JOSE header (RFC 7515/7519): base64url JSON naming ``alg``.

    Signed (three parts), unsecured (``alg: none``, empty signature) and encrypted
    (five parts) tokens all start with such a header. A header alone is a token cut
    after it (a line wrapped, a value cut short) or a JWE header carrying its key
    material: it must name ``alg``, the one member RFC 7515 requires.
    """
    header, dot, _ = token.partition(".")
    header = header[: len(header) - (len(header) % 4 == 1)]  # cut short: one char encodes none
    try:
        decoded = base64.urlsafe_b64decode(header + "=" * (-len(header) % 4))
    except (binascii.Error, ValueError):
        return False
    if not decoded.lstrip().startswith(b"{"):
        return False
    return b'"alg"' in decoded or (dot != "" and b'"typ"' in decoded)


_KEY_DETAIL = re.compile(
    r"Key \((?:[^()\n]|\([^()\n]*\)){1,512}\)=\((?P<secret>[^\n]{0,4096}?)\)"
    r"(?= already exists| is not present| is still referenced| conflicts with|\.?$|\.?\n)"
    r"|Failing row contains \((?P<row>[^\n]{0,8192}?)\)\.?(?:$|\n)"
)


def database_values(text: str, starts: list[int]) -> list[tuple[int, int]]:
    """The values PostgreSQL writes into an error's ``DETAIL`` (a key's, a failing row's)."""
    spans: list[tuple[int, int]] = []
    for start in starts:
        match = _KEY_DETAIL.match(text, start)
        if match is not None:
            group = "secret" if match.group("secret") is not None else "row"
            if match.end(group) > match.start(group):
                spans.append(match.span(group))
    return spans


_DNI = re.compile(
    r"(?:[0-9]{8}|[1-9][0-9]{6}|[XYZxyz][0-9]{7})[- ]?[A-Za-z](?![A-Za-z0-9]|(?<=[eE])[-+][0-9])"
)
"""Eight digits, seven without the leading zero (so not starting with one), or a NIE;
and its letter, unless that is a float's exponent (``3.1250003e-6``)."""


def es_dnis(text: str, starts: list[int]) -> list[tuple[int, int]]:
    """Spanish DNI/NIE numbers around ``starts``: seven digits and a letter, in a word.

    A DNI has eight digits (a leading zero is often left out: seven) and the NIE a
    letter and seven, so the seven digits the shapes anchor on may follow one more
    character of the number.
    """
    spans: list[tuple[int, int]] = []
    for start in starts:
        if start > 0 and (text[start - 1].isdigit() or text[start - 1] in "XYZxyz"):
            start -= 1  # noqa: PLW2901 - the number's first character
        if word_start(text, start):
            match = _DNI.match(text, start)
            if match is not None and es_dni_ok(match.group()):
                spans.append(match.span())
    return spans


_HETU = re.compile(r"[0-9]{6}[-+A-FU-Ya-fu-y][0-9]{3}[0-9A-Ya-y](?![A-Za-z0-9])")


def fi_hetus(text: str, starts: list[int]) -> list[tuple[int, int]]:
    """Finnish personal identity codes at ``starts``, not inside a longer number.

    Its date, century sign and mod-31 character make a look-alike rare enough that a
    letter may touch it (``is030594W903B``: a missing space).
    """
    spans: list[tuple[int, int]] = []
    for start in starts:
        if start == 0 or not text[start - 1].isdigit():
            match = _HETU.match(text, start)
            if match is not None and fi_hetu_ok(match.group()):
                spans.append(match.span())
    return spans
