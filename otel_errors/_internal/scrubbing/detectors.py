"""Value detectors: secrets and personal data inside free text, found by their anchors.

Each family follows its issuer's documented format, and its check digits where it
has them (see ``validators``): cards ISO/IEC 7812, IBANs ISO 13616, JWTs RFC 7519,
PEM blocks RFC 7468 (and OpenPGP armor), provider tokens by their documented
prefixes, national identifiers by their issuers' rules; look-alikes (timestamps,
order numbers, versions) fail the checks and stay.

Why triggers instead of one big regular expression: Python's ``re`` costs 10-40 ns
per character and pattern; twenty patterns per value would cost several times
logfire's scrubbing. Every secret has an anchor that is cheap to find (see
``anchors``): a separator (``=``/``:`` after a key word, ``@``, ``://``), a literal
(``eyJ``, ``AKIA``, ``ghp_``, ``xox``, ``-----BEGIN``, ``Bearer ``), or a shape: a
card starts a word with four digits, an IBAN with two letters and two digits. A
detector runs one anchored ``match`` at each of its anchors. No pattern nests
quantifiers: adversarial input is matched in linear time, and the engine scans at
most ``max_length`` characters of one value (and cuts the rest).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from otel_errors._internal.scrubbing import validators as check
from otel_errors._internal.scrubbing.finders import (
    anchored,
    cards,
    database_values,
    emails,
    es_dnis,
    fi_hetus,
    jwt_ok,
    longest_valid,
    scanning,
    url_passwords,
)
from otel_errors._internal.scrubbing.key_values import key_values

if TYPE_CHECKING:
    from collections.abc import Callable

    from otel_errors._internal.scrubbing.finders import Finder

DEFAULT_MAX_LENGTH = 64 * 1024
"""Characters of one value that are kept and scanned; the rest is cut, never exported."""


@dataclass(frozen=True, eq=False)
class Detector:
    """A named finder, called with the positions of its triggers in the value.

    ``triggers``: literals (in any case when ``any_case``, then written in lower
    case), or shapes as ``bytes``, searched in
    ``anchors.shape_of`` the value (``b" 9999"``: a word starting with four digits;
    a shape without a leading space may start inside a word).
    Empty means the finder scans every value itself. The literals of a ``token``
    detector are only looked for in a value holding a long run of word characters
    (a provider's token is one; a short log line, a route, a status are not).
    Optional detectors are off
    unless configured. Compared and hashed by identity: the engine keys dictionaries
    by detector on the hot path.
    """

    name: str
    find: Finder
    triggers: tuple[str | bytes, ...] = ()
    any_case: bool = False
    token: bool = False
    """Its secret is a run of 16 or more letters, digits and ``_``, or holds one."""
    gate: str = ""
    """Without triggers: what a value must hold for the finder to be called at all."""
    default_on: bool = True


_B64URL = "[A-Za-z0-9_-]"
_NOT_AFTER = r"(?![A-Za-z0-9])"


def _credential_after(scheme: str, validate: Callable[[str], bool]) -> Detector:
    """The ``bearer`` family: an HTTP credential (RFC 6750's ``b64token``) after ``scheme``."""
    return Detector(
        "bearer",
        anchored(
            rf"(?i:{scheme})\s+(?P<secret>[A-Za-z0-9._~+/-]{{8,}}(?![A-Za-z0-9._~+/-])"
            r"(?:=+(?![A-Za-z0-9])|(?!=)))",  # base64 padding ends it; "name=" is a key
            validate=validate,
        ),
        triggers=(f"{scheme} ",),
        any_case=True,
    )


_AWS_PREFIXES = ("AKIA", "ASIA", "ABIA", "ACCA", "AGPA", "AIDA", "AIPA", "ANPA", "ANVA", "APKA",
                 "AROA", "ASCA")  # fmt: skip
"""Prefixes of AWS unique identifiers (IAM user guide, "Unique identifiers")."""
DETECTORS: tuple[Detector, ...] = (
    Detector(
        "private_key",
        anchored(
            r"(?P<secret>-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]{0,20000}?"
            r"(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|$))",
            at_word_start=False,
            validate=check.pem_key_ok,
        ),
        triggers=("-----BEGIN",),
    ),
    Detector(
        "jwt",
        anchored(
            rf"(?P<secret>ey[IJ]{_B64URL}{{6,}}(?:\.(?:{_B64URL}{{2,}}\.{_B64URL}*"
            rf"(?:\.{_B64URL}{{2,}}\.{_B64URL}{{2,}})?|\.{_B64URL}{{2,}}\.{_B64URL}{{2,}}\."
            rf"{_B64URL}{{2,}}|ey{_B64URL}{{2,}})"  # cut after a JSON payload
            rf"|(?<={_B64URL}{{16}})(?!{_B64URL}|\.{_B64URL})))",  # or after the header
            validate=jwt_ok,
        ),
        triggers=("eyJ", "eyI"),
        token=True,
    ),
    _credential_after("bearer", check.looks_random),
    _credential_after("basic", check.basic_credentials_ok),
    Detector("url_password", url_passwords, gate="://"),
    Detector(
        "aws_access_key",
        anchored(
            rf"(?P<secret>(?:{'|'.join(_AWS_PREFIXES)})[A-Z0-9]{{16}})" + _NOT_AFTER,
            validate=check.token_ok,
        ),
        triggers=_AWS_PREFIXES,
        token=True,
    ),
    Detector(
        "aws_access_key",
        anchored(
            r"(?P<secret>bedrock-api-key-[A-Za-z0-9+/_-]{16,}=*|ABSK[A-Za-z0-9+/]{32,}=*)",
            validate=check.bedrock_key_ok,
        ),
        triggers=("bedrock-api-key-", "ABSK"),
        token=True,
    ),
    Detector(
        "github_token",
        anchored(
            r"(?P<secret>gh[pousr]_[A-Za-z0-9]{30,255}|github_pat_[A-Za-z0-9_]{22,255})",
            validate=check.token_ok,
        ),
        triggers=("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
        token=True,
    ),
    Detector(
        "slack_token",
        anchored(
            r"(?P<secret>(?:xox[abposr]|xoxe\.xox[bp]|xoxe|xapp)-[0-9]{1,16}-[A-Za-z0-9-]{6,})",
            validate=check.token_ok,
        ),
        triggers=("xox", "xapp-"),  # segments may be short: no long run needed
    ),
    Detector(
        "slack_token",
        anchored(  # with any scheme or none: the path is the secret
            r"(?P<secret>hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9/_-]{10,})"
        ),
        triggers=("hooks.slack.com/",),
    ),
    Detector(
        "stripe_key",
        anchored(
            r"(?P<secret>(?:[sr]k_(?:live|test)|whsec)_[A-Za-z0-9]{10,})",
            validate=check.token_ok,
        ),
        triggers=("sk_live_", "sk_test_", "rk_live_", "rk_test_", "whsec_"),
        token=True,
    ),
    Detector(
        "google_api_key",
        anchored(r"(?P<secret>AIza[0-9A-Za-z_-]{35})(?![0-9A-Za-z_-])", validate=check.token_ok),
        triggers=("AIza",),
        token=True,
    ),
    Detector("key_value", key_values),  # its own searches, see key_values
    Detector("email", emails, triggers=("@", "%40")),  # %40: twice percent-encoded
    Detector(
        "iban",
        longest_valid(  # grouped by four, or as people write them (NO 02 1503 75 77003)
            r"[A-Z]{2} ?[0-9]{2}(?:[ .-]?[A-Za-z0-9]){11,30}" + _NOT_AFTER,
            check.iban_ok,
            " -.",
        ),
        triggers=(b" AA99", b" AA 99"),  # a word starting with a country code, check digits
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
            r"(?P<secret>[A-Za-z]{2} ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-Da-d])" + _NOT_AFTER,
            validate=check.nino_ok,
        ),
        triggers=(b" AA99", b" AA 99", b" aa99", b" aa 99"),  # the first shared with IBANs
    ),
    Detector("es_dni", es_dnis, triggers=(b"9999999A", b"9999999 A", b"9999999a", b"9999999 a")),
    Detector("fi_hetu", fi_hetus, triggers=(b"999999 999", b"999999A999", b"999999a999")),
    Detector(
        "it_fiscal_code",
        anchored(
            r"(?P<secret>[A-Z]{6}[0-9]{2}[A-Z][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z])"
            + _NOT_AFTER,
            validate=check.it_fiscal_code_ok,
        ),
        triggers=(b" AAAAAA99A",),  # the rest may be letters (omocodia): the pattern reads it
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
            r"[0-9](?<![0-9]\.[0-9])[0-9]{0,2}(?:\.[0-9]{1,3}){3}(?![A-Za-z0-9]|\.[0-9])"
            r"|[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:(?<=:)[0-9]{1,3}(?:\.[0-9]{1,3}){3})?"
            r"(?![\w:]|\.[0-9])",
            check.ip_ok,
        ),
        default_on=False,
    ),
)
"""All detectors (some names twice: one family, two anchors)."""
