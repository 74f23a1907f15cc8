"""Value detectors: secrets and personal data inside free text, with their validators.

Card numbers must pass Luhn and carry a card network prefix, IBANs the ISO 7064
mod-97 check, IPv4 addresses octets up to 255, so look-alikes (timestamps, order
numbers, versions) stay.

Why triggers instead of one big regular expression: Python's ``re`` costs 10-40 ns
per character and pattern, and it only skips ahead quickly for an alternation of
plain literals; fifteen patterns per value would cost several times logfire's
scrubbing. Every secret has an anchor that is cheap to find: a separator (``=``/``:``
after a key word, ``@``, ``://``), a literal (``eyJ``, ``AKIA``, ``gh``, ``xox``,
``-----BEGIN``, ``Bearer ``), or a shape: a card starts a word with four digits, an
IBAN with two capitals and two digits. Shapes are searched in the value's shape
(:func:`shape_of`: digits written ``9``, capitals ``A``, other word characters ``a``,
the rest spaces), one ``bytes.translate`` away. The engine finds characters and
shapes with ``find`` and the literals with one search, and calls each detector with
the positions of its anchors; the detector runs one anchored ``match`` there. No
pattern nests quantifiers: adversarial input is matched in linear time, and the
engine scans at most ``MAX_SCAN`` characters of one value.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    Finder = Callable[[str, list[int]], list[tuple[int, int]]]
    """``(text, trigger positions) -> [(start, end), ...]`` of secret spans."""

MAX_SCAN = 64 * 1024
"""Characters of one value that are scanned; the rest is dropped, never exported."""

CHAR_TRIGGERS = frozenset("=:@+")
"""Triggers the engine finds with ``str.find``, every occurrence."""


@dataclass(frozen=True, eq=False)
class Detector:
    """A named finder, called with the positions of its triggers in the value.

    ``triggers``: characters of :data:`CHAR_TRIGGERS`, literals (in any case when
    ``any_case``, then written in lower case), or shapes as ``bytes``, searched in
    :func:`shape_of` the value (``b" 9999"``: a word starting with four digits).
    Empty means the finder scans every value itself. Optional detectors are off
    unless configured. Compared and hashed by identity: the engine keys dictionaries
    by detector on the hot path.
    """

    name: str
    find: Finder
    triggers: tuple[str | bytes, ...] = ()
    any_case: bool = False
    default_on: bool = True


_CARD_RANGES = (
    (4000, 4999),  # Visa
    (5100, 5599), (2220, 2720),  # Mastercard
    (3400, 3499), (3700, 3799),  # American Express
    (3000, 3059), (3600, 3699), (3800, 3899),  # Diners Club
    (6011, 6011), (6440, 6599), (6200, 6299),  # Discover, UnionPay
    (3528, 3589),  # JCB
    (5000, 5099), (5600, 5999),  # Maestro
)  # fmt: skip
"""Card networks by the first four digits of the number (issuer identification ranges)."""
_CARD_PREFIXES = frozenset(str(n) for low, high in _CARD_RANGES for n in range(low, high + 1))
_DOUBLED = str.maketrans("0123456789", "0246813579")
"""Luhn doubles every second digit and adds the digits of the product: 7 -> 14 -> 5."""


def luhn_ok(text: str) -> bool:
    """Whether ``text`` is a payment card number: a card network prefix, 13-19 digits, Luhn.

    The prefix check keeps epoch timestamps and other long numbers (which pass Luhn
    one time in ten) from being taken for cards.
    """
    compact = text if text.isdigit() else text.replace(" ", "").replace("-", "")
    if not 13 <= len(compact) <= 19 or compact[:4] not in _CARD_PREFIXES:  # noqa: PLR2004
        return False
    if not compact.isdigit() or compact.count(compact[0]) == len(compact):
        return False
    digits = compact[-1::-2] + compact[-2::-2].translate(_DOUBLED)
    return (sum(digits.encode()) - 48 * len(digits)) % 10 == 0  # byte sum = digit sum


def iban_ok(text: str) -> bool:
    """Whether ``text`` is an IBAN with a valid mod-97 check (spaces ignored)."""
    compact = text.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34:  # noqa: PLR2004 - IBAN lengths
        return False
    rearranged = compact[4:] + compact[:4]
    try:
        number = int("".join(str(int(c, 36)) for c in rearranged))
    except ValueError:
        return False
    return number % 97 == 1


def looks_random(text: str) -> bool:
    """Whether a word after ``Bearer``/``Basic`` is a credential rather than prose.

    Credentials mix digits, cases or punctuation (``dXNlcjpwYXNz``, ``abc.def-1``);
    ``Basic authentication`` and ``bearer tokens`` stay readable.
    """
    if text.isalpha() and (text.islower() or text.isupper() or text.istitle()):
        return False
    return len(text) >= 8  # noqa: PLR2004 - shortest credential the detector takes


def ipv4_ok(text: str) -> bool:
    """Whether every octet is 0..255 (a version number like 1.2.3.400 is not an address)."""
    return all(int(part) <= 255 for part in text.split("."))  # noqa: PLR2004 - octet range


def _word_start(text: str, index: int) -> bool:
    return index == 0 or not (text[index - 1].isalnum() or text[index - 1] == "_")


def _anchored(
    pattern: str,
    *,
    back: int = 0,
    word_start: bool = True,
    validate: Callable[[str], bool] | None = None,
) -> Finder:
    """A finder that matches ``pattern`` ``back`` characters before each trigger.

    Triggers inside a secret already found are skipped (the digit groups of a card).
    """
    compiled = re.compile(pattern)

    def find(text: str, starts: list[int]) -> list[tuple[int, int]]:
        spans: list[tuple[int, int]] = []
        covered = -1
        for trigger in starts:
            start = trigger - back
            if start < covered or start < 0 or (word_start and not _word_start(text, start)):
                continue
            match = compiled.match(text, start)
            if match is not None:
                span = match.span("secret")
                if validate is None or validate(text[span[0] : span[1]]):
                    spans.append(span)
                    covered = span[1]
        return spans

    return find


def _scanning(pattern: str, validate: Callable[[str], bool]) -> Finder:
    """A finder that searches the whole value: for optional detectors without an anchor.

    A candidate must start a word (checked here: a look-behind in ``pattern`` makes
    ``re`` try every position) and end one (``pattern`` checks with a look-ahead).
    """
    compiled = re.compile(pattern)

    def find(text: str, _: list[int]) -> list[tuple[int, int]]:
        return [
            match.span()
            for match in compiled.finditer(text)
            if _word_start(text, match.start()) and validate(match.group())
        ]

    return find


_EMAIL_LOCAL_START = re.compile(r"[\s\S]*[^A-Za-z0-9._%+-]")
_EMAIL = re.compile(
    r"(?P<secret>[A-Za-z0-9._%+-]{1,64}(?:@|%40)[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*"
    r"\.[A-Za-z]{2,24})(?![A-Za-z0-9-])"
)


def _emails(text: str, starts: list[int]) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for at in starts:
        window = max(0, at - 64)
        before = _EMAIL_LOCAL_START.match(text, window, at)  # ends after the last delimiter
        local = before.end() if before is not None else window
        if local < at:
            match = _EMAIL.match(text, local)
            if match is not None:
                spans.append(match.span("secret"))
    return spans


_CARD_CANDIDATE = re.compile(r"[0-9][0-9 -]{11,46}[0-9](?![A-Za-z0-9])")
"""Digits with spaces or dashes between them: a card number, maybe more numbers after it."""


def _cards(text: str, starts: list[int]) -> list[tuple[int, int]]:
    """Card numbers starting at ``starts`` (word starts): the longest leading groups that pass Luhn.

    Dropping groups from the end finds the number in ``4111 1111 1111 1111 12/27``
    (an expiry date after it), which one greedy match would take for 18 digits.
    """
    spans: list[tuple[int, int]] = []
    covered = -1
    for start in starts:
        if start < covered:  # a later group of a card already found
            continue
        match = _CARD_CANDIDATE.match(text, start)
        if match is None:
            continue
        candidate = match.group()
        end = len(candidate)
        while end >= 13:  # noqa: PLR2004 - the shortest card number
            if luhn_ok(candidate[:end]):
                covered = start + end
                spans.append((start, covered))
                break
            end = max(candidate.rfind(" ", 0, end), candidate.rfind("-", 0, end))  # -1: none
            end = len(candidate[:end].rstrip(" -")) if end > 0 else 0
    return spans


_KEY_WORDS = tuple(
    sorted(
        {"pass", "password", "passwd", "passphrase", "pwd", "token", "auth", "authorization",
         "sid", "cookie", "credential", "credentials", "signature", "sig", "cvv", "cvc", "ssn",
         "apikey", "api_key", "api-key", "accesskey", "access_key", "access-key", "secret",
         "secretkey", "secret_key", "secret-key", "privatekey", "private_key", "private-key",
         "session", "sessionid", "session_id", "session-id"},
        key=len,
        reverse=True,
    )
)  # fmt: skip
"""Lower-case key names whose values are secrets in free text (``password=...``)."""
_VALUE_AFTER = re.compile(
    r"(?:=>|=|:)\s{0,3}(?:\"|'|&quot;)?(?P<secret>(?:(?:[Bb]earer|[Bb]asic|[Tt]oken|[Dd]igest)\s+)?"
    r"[^\s\"'&,;)}\]<>]{3,512})"
)
_KEY_WORDS_BY_END = {
    end: tuple(word for word in _KEY_WORDS if word.endswith(end))
    for end in {w[-3:] for w in _KEY_WORDS}
}
"""Key words by their last three characters: the candidates in front of a separator."""
_QUOTES = frozenset("\"'")
_MAX_SPACES = 3


def key_values(text: str, separators: list[int]) -> list[tuple[int, int]]:
    """Spans of values written after a sensitive key: ``password=x``, ``"token": "x"``.

    Covers query strings, headers, JSON, SQL (``password = 'x'``) and log lines. From
    each ``=`` or ``:`` it looks back over spaces and a quote for a key word that
    starts its identifier or follows ``_``/``-`` in it (``AWS_SECRET_ACCESS_KEY=``,
    ``x-api-key:``), never one inside a word (``bypass=``).
    """
    lowered = lower_same_length(text)
    spans: list[tuple[int, int]] = []
    for separator in separators:
        if _follows_key(lowered, separator):
            match = _VALUE_AFTER.match(text, separator)
            if match is not None:
                spans.append(match.span("secret"))
    return spans


def _follows_key(lowered: str, separator: int) -> bool:
    """Whether the ``=``/``:`` at ``separator`` in ``lowered`` comes after a key word."""
    if lowered.startswith("://", separator):
        return False
    end = separator
    before = lowered[end - 1 : end]
    if before.isspace():
        while end > 0 and separator - end < _MAX_SPACES and lowered[end - 1].isspace():
            end -= 1
        before = lowered[end - 1 : end]
    if before in _QUOTES:
        end -= 1
    elif before == ";" and lowered.endswith("&quot;", 0, end):
        end -= 6
    for word in _KEY_WORDS_BY_END.get(lowered[max(0, end - 3) : end], ()):
        start = end - len(word)
        if lowered.endswith(word, 0, end) and (start == 0 or not lowered[start - 1].isalnum()):
            return True
    return False


_CREDENTIAL_SCHEMES = ("bearer", "basic", "token", "digest")
_KEY_END_LAST = frozenset(":=>;\"'")
"""Last characters of a line ending in a separator (``=>`` too), a quote or ``&quot;``."""


def value_on_next_line(line: str) -> bool:
    """Whether ``line`` ends where a secret may follow on the next line.

    After a key and its separator (``password:``, ``"token": "``) or a credential
    scheme (``Authorization: Bearer``), the value patterns allow a line break.
    """
    end = line.rstrip()
    if end[-1:] not in _KEY_END_LAST:  # most lines: only a scheme can end them so
        return end[-6:].lower().endswith(_CREDENTIAL_SCHEMES)
    end = lower_same_length(end).removesuffix("&quot;").rstrip("\"'").rstrip()
    if end.endswith("=>"):
        end = end[:-1]
    return end.endswith((":", "=")) and _follows_key(end, len(end) - 1)


def lower_same_length(text: str) -> str:
    """``text.lower()``, keeping positions: a few characters (``İ``) lengthen when lowered."""
    lowered = text.lower()
    if len(lowered) == len(text):
        return lowered
    return "".join(c if len(c.lower()) != 1 else c.lower() for c in text)


def _url_passwords(text: str, colons: list[int]) -> list[tuple[int, int]]:
    if "@" not in text:
        return []
    return _URL_PASSWORD(text, [c for c in colons if text.startswith("://", c)])


_URL_PASSWORD = _anchored(r"://[^\s:/?#@]{1,128}:(?P<secret>[^\s/?#@]{1,256})@", word_start=False)

DETECTORS: tuple[Detector, ...] = (
    Detector(
        "private_key",
        _anchored(
            r"(?P<secret>-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----[A-Za-z0-9+/=\s:,-]{0,20000}?"
            r"(?:-----END (?:[A-Z]+ )*PRIVATE KEY-----|$))",
            word_start=False,
        ),
        triggers=("-----BEGIN",),
    ),
    Detector(
        "jwt",
        _anchored(r"(?P<secret>eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{8,})"),
        triggers=("eyJ",),
    ),
    Detector(
        "bearer",
        _anchored(
            r"(?i:bearer|basic)\s+(?P<secret>[A-Za-z0-9._~+/-]{8,}=*)", validate=looks_random
        ),
        triggers=("bearer ", "basic "),
        any_case=True,
    ),
    Detector("url_password", _url_passwords, triggers=(":",)),
    Detector(
        "aws_access_key",
        _anchored(r"(?P<secret>(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16})(?![A-Z0-9])"),
        triggers=("AKIA", "ASIA", "ABIA", "ACCA"),
    ),
    Detector(
        "github_token",
        _anchored(r"(?P<secret>gh[pousr]_[A-Za-z0-9]{30,255}|github_pat_[A-Za-z0-9_]{22,255})"),
        triggers=("gh", "git"),
    ),
    Detector(
        "slack_token",
        _anchored(r"(?P<secret>xox[abposr]-[A-Za-z0-9-]{10,})"),
        triggers=("xox",),
    ),
    Detector(
        "slack_token",
        _anchored(r"(?P<secret>https://hooks\.slack\.com/services/[A-Za-z0-9/_-]{10,})", back=8),
        triggers=("hooks.slack.com/",),
    ),
    Detector(
        "stripe_key",
        _anchored(r"(?P<secret>[sr]k_(?:live|test)_[A-Za-z0-9]{10,})", back=1),
        triggers=("k_",),
    ),
    Detector(
        "google_api_key",
        _anchored(r"(?P<secret>AIza[0-9A-Za-z_-]{35})(?![0-9A-Za-z_-])"),
        triggers=("AIza",),
    ),
    Detector("key_value", key_values, triggers=("=", ":")),
    Detector("email", _emails, triggers=("@", "%40")),  # %40: percent-encoded, in URLs
    Detector(
        "iban",
        _anchored(
            r"(?P<secret>[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?)"
            r"(?![A-Za-z0-9])",
            word_start=False,  # the trigger starts a word
            validate=iban_ok,
        ),
        triggers=(b" AA99",),  # a word starting with a country code and check digits
    ),
    Detector("card", _cards, triggers=(b" 9999",)),  # a word starting with four digits
    Detector(
        "phone",
        _anchored(
            r"(?P<secret>\+[1-9][0-9]{0,2}[ .-]?(?:\(?[0-9]{1,4}\)?[ .-]?){2,4}[0-9]{2,4})"
            r"(?![0-9])"
        ),
        triggers=("+",),
        default_on=False,
    ),
    Detector(
        "ip_address",
        _scanning(
            r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}(?![A-Za-z0-9]|\.[0-9])",
            ipv4_ok,
        ),
        default_on=False,
    ),
)
"""All detectors (``slack_token`` twice: tokens and webhook URLs have different anchors)."""


def _shape_table() -> bytes:
    table = bytearray(b" " * 256)
    for chars, shape in (
        (string.digits, "9"),
        (string.ascii_uppercase, "A"),
        (string.ascii_lowercase + "_", "a"),
    ):
        for char in chars:
            table[ord(char)] = ord(shape)
    return bytes(table)


_SHAPES = _shape_table()


def shape_of(text: str) -> bytes:
    """``text`` as shapes: a space, then ``9`` per digit, ``A`` capital, ``a`` word character.

    Every other character becomes a space. The leading space makes position 0 a word
    start and puts ``text[i]`` at ``i + 1``: so ``shape.find(b" 9999")`` is the index
    in ``text`` of a word starting with four digits. Non-ASCII characters count as
    spaces (one each: positions still match).
    """
    return b" " + text.encode("ascii", "replace").translate(_SHAPES)


def literal_pattern(
    detectors: tuple[Detector, ...] | list[Detector],
) -> tuple[re.Pattern[str], dict[str, tuple[Detector, ...]]]:
    """One search for the literal triggers of ``detectors``, and the detectors per literal.

    ``re`` scans fast for an alternation of literals (it only tries positions holding
    a literal's first character, and factored as ``e(?:yJ)|...`` one group there); a
    character class, ``(?i)`` or look-behind in the alternation makes it try every
    position. So a case-insensitive literal is
    searched as ``bearer``, ``Bearer`` and ``BEARER``, and trigger characters and shapes
    are found apart.
    """
    by_literal: dict[str, list[Detector]] = {}
    for detector in detectors:
        for trigger in detector.triggers:
            if isinstance(trigger, bytes) or trigger in CHAR_TRIGGERS:
                continue
            spellings = (
                {trigger, trigger.capitalize(), trigger.upper()} if detector.any_case else {trigger}
            )
            for spelling in spellings:
                by_literal.setdefault(spelling, []).append(detector)
    by_first: dict[str, list[str]] = {}
    for literal in sorted(by_literal, key=len, reverse=True):  # the longest wins
        by_first.setdefault(literal[0], []).append(re.escape(literal[1:]))
    # Factored by first character: a position holding one tries one group, not all.
    pattern = "|".join(
        re.escape(first) + (rests[0] if len(rests) == 1 else f"(?:{'|'.join(rests)})")
        for first, rests in sorted(by_first.items())
    )
    return re.compile(pattern or "(?!)"), {
        literal: tuple(found) for literal, found in by_literal.items()
    }
