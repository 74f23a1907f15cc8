"""Value detectors: secrets and personal data inside free text, found by their anchors.

Each family follows its issuer's documented format, and its check digits where it
has them (see ``validators``): cards ISO/IEC 7812, IBANs ISO 13616, JWTs RFC 7519,
PEM blocks RFC 7468 (and OpenPGP armor), provider tokens by their documented
prefixes, national identifiers by their issuers' rules; look-alikes (timestamps,
order numbers, versions) fail the checks and stay.

Why triggers instead of one big regular expression: Python's ``re`` costs 10-40 ns
per character and pattern, and it only skips ahead quickly for an alternation of
plain literals; twenty patterns per value would cost several times logfire's
scrubbing. Every secret has an anchor that is cheap to find: a separator (``=``/``:``
after a key word, ``@``, ``://``), a literal (``eyJ``, ``AKIA``, ``gh``, ``xox``,
``-----BEGIN``, ``Bearer ``), or a shape: a card starts a word with four digits, an
IBAN with two capitals and two digits. Shapes are searched in the value's shape
(:func:`shape_of`: digits written ``9``, capitals ``A``, other word characters ``a``,
the rest spaces), one ``bytes.translate`` away. The engine finds characters and
shapes with ``find`` and the literals with one search, and calls each detector with
the positions of its anchors; the detector runs one anchored ``match`` there. No
pattern nests quantifiers: adversarial input is matched in linear time, and the
engine scans at most ``max_length`` characters of one value (and cuts the rest).
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from typing import TYPE_CHECKING

from otel_errors._internal.scrubbing import validators as check
from otel_errors._internal.scrubbing.finders import (
    anchored,
    cards,
    database_values,
    emails,
    jwt_ok,
    longest_valid,
    scanning,
    url_passwords,
)
from otel_errors._internal.scrubbing.key_values import cli_values, key_values

if TYPE_CHECKING:
    from otel_errors._internal.scrubbing.finders import Finder

DEFAULT_MAX_LENGTH = 64 * 1024
"""Characters of one value that are kept and scanned; the rest is cut, never exported."""

CHAR_TRIGGERS = frozenset("=:@+>,")
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


_B64URL = "[A-Za-z0-9_-]"
_NOT_AFTER = r"(?![A-Za-z0-9])"
_AWS_PREFIXES = ("AKIA", "ASIA", "ABIA", "ACCA", "AGPA", "AIDA", "AIPA", "ANPA", "ANVA", "APKA",
                 "AROA", "ASCA")  # fmt: skip
"""Prefixes of AWS unique identifiers (IAM user guide, "Unique identifiers")."""
_CLI_OPTIONS = ("-u ", "--user ", "--password ", "--passwd ", "--pass ", "--token ",
                "--api-key ", "--secret ")  # fmt: skip

DETECTORS: tuple[Detector, ...] = (
    Detector(
        "private_key",
        anchored(
            r"(?P<secret>-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]{0,20000}?"
            r"(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|$))",
            at_word_start=False,
        ),
        triggers=("-----BEGIN",),
    ),
    Detector(
        "jwt",
        anchored(
            rf"(?P<secret>ey[IJ]{_B64URL}{{6,}}\.{_B64URL}{{2,}}\.{_B64URL}*"
            rf"(?:\.{_B64URL}{{2,}}\.{_B64URL}{{2,}})?)",
            validate=jwt_ok,
        ),
        triggers=("eyJ", "eyI"),
    ),
    Detector(
        "bearer",
        anchored(
            r"(?i:bearer|basic)\s+(?P<secret>[A-Za-z0-9._~+/-]{8,}(?![A-Za-z0-9._~+/-])"
            r"(?:=+(?![A-Za-z0-9])|(?!=)))",  # base64 padding ends it; "name=" is a key
            validate=check.looks_random,
        ),
        triggers=("bearer ", "basic "),
        any_case=True,
    ),
    Detector("url_password", url_passwords, triggers=(":",)),
    Detector(
        "aws_access_key",
        anchored(
            rf"(?P<secret>(?:{'|'.join(_AWS_PREFIXES)})[A-Z0-9]{{16}})" + _NOT_AFTER,
            validate=check.token_ok,
        ),
        triggers=_AWS_PREFIXES,
    ),
    Detector(
        "github_token",
        anchored(
            r"(?P<secret>gh[pousr]_[A-Za-z0-9]{30,255}|github_pat_[A-Za-z0-9_]{22,255})",
            validate=check.token_ok,
        ),
        triggers=("gh", "git"),
    ),
    Detector(
        "slack_token",
        anchored(
            r"(?P<secret>(?:xox[abposr]|xoxe\.xox[bp]|xoxe|xapp)-[0-9]{1,16}-[A-Za-z0-9-]{6,})",
            validate=check.token_ok,
        ),
        triggers=("xox", "xapp-"),
    ),
    Detector(
        "slack_token",
        anchored(
            r"(?P<secret>https://hooks\.slack\.com/(?:services|workflows|triggers)/"
            r"[A-Za-z0-9/_-]{10,})",
            back=8,
        ),
        triggers=("hooks.slack.com/",),
    ),
    Detector(
        "stripe_key",
        anchored(
            r"(?P<secret>(?:[sr]k_(?:live|test)|whsec)_[A-Za-z0-9]{10,})",
            back=1,
            validate=check.token_ok,
        ),
        triggers=("k_", "whsec_"),
    ),
    Detector(
        "google_api_key",
        anchored(r"(?P<secret>AIza[0-9A-Za-z_-]{35})(?![0-9A-Za-z_-])", validate=check.token_ok),
        triggers=("AIza",),
    ),
    Detector("key_value", key_values, triggers=("=", ":", ">", ",", "%3D", "%3d", "%3A", "%3a")),
    Detector(
        "key_value",
        cli_values,
        triggers=_CLI_OPTIONS,
    ),
    Detector("email", emails, triggers=("@", "%40")),  # %40: percent-encoded, in URLs
    Detector(
        "iban",
        longest_valid(
            r"[A-Z]{2}[0-9]{2}(?:[ -]?[A-Z0-9]{4}){2,7}(?:[ -]?[A-Z0-9]{1,4})?" + _NOT_AFTER,
            check.iban_ok,
            " -",
        ),
        triggers=(b" AA99",),  # a word starting with a country code and check digits
    ),
    Detector("card", cards, triggers=(b" 9999",)),  # a word starting with four digits
    Detector(
        "database_value",
        database_values,
        triggers=("Key (", "Failing row contains ("),
    ),
    Detector(
        "us_ssn",
        anchored(
            r"(?P<secret>[0-9]{3}[-. ][0-9]{2}[-. ][0-9]{4})(?![0-9A-Za-z-])", validate=check.ssn_ok
        ),
        triggers=(b" 999 99 9999",),
    ),
    Detector(
        "uk_nino",
        anchored(
            r"(?P<secret>[A-Z]{2} ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-D])" + _NOT_AFTER,
            validate=check.nino_ok,
        ),
        triggers=(b" AA99", b" AA 99"),  # the first shared with IBANs
    ),
    Detector(
        "es_dni",
        anchored(
            r"(?P<secret>(?:[0-9]{8}|[XYZxyz][0-9]{7})[- ]?[A-Za-z])" + _NOT_AFTER,
            validate=check.es_dni_ok,
        ),
        triggers=(b" 9999", b" A9999999"),  # the first shared with cards
    ),
    Detector(
        "fi_hetu",
        anchored(
            r"(?P<secret>[0-9]{6}[-+A-FU-Y][0-9]{3}[0-9A-Y])" + _NOT_AFTER,
            validate=check.fi_hetu_ok,
        ),
        triggers=(b" 9999",),  # shared with cards
    ),
    Detector(
        "it_fiscal_code",
        anchored(
            r"(?P<secret>[A-Z]{6}[0-9]{2}[A-Z][0-9]{2}[A-Z][0-9]{3}[A-Z])" + _NOT_AFTER,
            validate=check.it_fiscal_code_ok,
        ),
        triggers=(b" AAAAAA99",),
    ),
    Detector(
        "phone",
        scanning(
            r"(?:\+|00)[1-9][0-9]{0,2}[ .-]?(?:\(0\)[ .-]?)?(?:\(?[0-9]{1,5}\)?[ .-]?){1,5}"
            r"[0-9]{2,5}(?![0-9])"
            r"|\(?[2-9][0-9]{2}(?:\) ?|[ .-])[2-9][0-9]{2}[ .-][0-9]{4}(?![0-9])"
            r"|0[1-9][0-9]{0,4}(?:[ /-]|\) ?)[0-9]{3,4}[ -]?[0-9]{3,4}(?![0-9])",
            check.phone_ok,
        ),
        default_on=False,
    ),
    Detector(
        "ip_address",
        scanning(
            r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}(?![A-Za-z0-9]|\.[0-9])"
            r"|[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:(?<=:)[0-9]{1,3}(?:\.[0-9]{1,3}){3})?"
            r"(?![\w:]|\.[0-9])",
            check.ip_ok,
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
