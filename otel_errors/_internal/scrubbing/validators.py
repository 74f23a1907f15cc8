"""Check digits and structure rules of the numbers and identifiers the detectors find.

Each check comes from the identifier's specification, so a look-alike (a timestamp,
an order number, a version) fails it: cards ISO/IEC 7812 (issuer ranges, Luhn),
IBANs ISO 13616 (ISO 7064 mod 97-10), US social security numbers (SSA's rules for
area, group and serial), UK National Insurance numbers (HMRC's prefix rules),
Spanish DNI/NIE (mod-23 letter), Finnish personal identity codes (date, mod-31
character), Italian fiscal codes (month letter and day: the check letter is not
required, see ``it_fiscal_code_ok``), IP addresses (``ipaddress``).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import ipaddress
import itertools
import re

_DOUBLED = bytes.maketrans(b"0123456789", b"0246813579")
"""Luhn doubles every second digit and adds the digits of the product: 7 -> 14 -> 5."""


def _card_network(digits: str) -> bool:
    """Whether ``digits`` start with an issuer range of that length (ISO/IEC 7812 IINs).

    By the major industry identifier (first digit): 1 UATP (15 digits); 2 Mir
    (2200-2204: 16-19) and Mastercard (2221-2720: 16); 3 American Express (34, 37:
    15), JCB (3528-3589: 16-19), Diners Club (300-305, 36, 38, 39: 14-19); 4 Visa
    (13, 16, 19); 5 Mastercard (51-55: 16) and Maestro (50, 56-59); 6 Discover,
    UnionPay, RuPay, Maestro (incl. Maestro UK 6759, 676770, 676774), InstaPayment:
    the whole range is issued.
    Epoch milliseconds (13 digits starting with 1) are not UATP numbers.
    """
    length, first, head = len(digits), digits[0], digits[:4]  # ASCII digits: compared as text
    if first == "1":
        return length == 15  # noqa: PLR2004
    if first == "2":
        mir = "2200" <= head <= "2204" and length >= 16  # noqa: PLR2004
        return mir or ("2221" <= head <= "2720" and length == 16)  # noqa: PLR2004
    if first == "3":
        if head[:2] in ("34", "37"):
            return length == 15  # noqa: PLR2004
        jcb = "3528" <= head <= "3589" and length >= 16  # noqa: PLR2004
        diners = "3000" <= head <= "3059" or head[:2] in ("36", "38", "39")
        return jcb or (diners and length >= 14)  # noqa: PLR2004
    if first == "5" and "51" <= head[:2] <= "55":
        return length == 16  # noqa: PLR2004
    return first in "56" or (first == "4" and length in (13, 16, 19))


def luhn_ok(text: str) -> bool:
    """Whether ``text`` is a payment card number: an issuer range, 12-19 digits, Luhn.

    The issuer check keeps epoch timestamps and other long numbers (which pass Luhn
    one time in ten) from being taken for cards.
    """
    compact = text if text.isdigit() else text.replace(" ", "").replace("-", "")
    if not 12 <= len(compact) <= 19 or not compact.isdigit() or not compact.isascii():  # noqa: PLR2004
        return False  # ``isdigit`` takes other scripts' digits too: no card has them
    if compact.count(compact[0]) == len(compact) or not _card_network(compact):
        return False
    return luhn_sum_ok(compact)


def luhn_sum_ok(digits: str) -> bool:
    """The Luhn (mod 10) check over a string of ASCII digits: bytes, summed in C."""
    raw = digits.encode("ascii")
    doubled = raw[-2::-2].translate(_DOUBLED)
    return (sum(raw[-1::-2]) + sum(doubled) - 48 * len(raw)) % 10 == 0  # byte sum = digit sum


_IBAN_REGISTRY = (
    "AD24 AE23 AL28 AT20 AZ28 BA20 BE16 BG22 BH22 BR29 BY28 CH21 CR22 CY28 CZ24 DE22 DK18 "
    "DO28 EE20 EG29 ES24 FI18 FO18 FR27 GB22 GE22 GI23 GL18 GR27 GT28 HR21 HU28 IE22 IL23 "
    "IQ23 IS26 IT27 JO30 KW30 KZ20 LB28 LC32 LI21 LT20 LU20 LV21 LY25 MC27 MD24 ME22 MK19 "
    "MR27 MT31 MU30 NL18 NO15 PK24 PL28 PS29 PT25 QA29 RO24 RS22 SA24 SC31 SD18 SE24 SI19 "
    "SK24 SM27 ST25 SV28 TL23 TN24 TR26 UA29 VA22 VG24 XK20"
)
_IBAN_LENGTHS = {entry[:2]: int(entry[2:]) for entry in _IBAN_REGISTRY.split()}
"""IBAN length per country, from the ISO 13616 registry (SWIFT's IBAN registry)."""
_BBAN_REGISTRY = (
    "AD8n12c AE19n AL8n16c AT16n AZ4a20c BA16n BE12n BG4a6n8c BH4a14c BR23n1a1c BY4c4n16c "
    "CH5n12c CR18n CY8n16c CZ20n DE18n DK14n DO4c20n EE16n EG25n ES20n FI14n FO14n "
    "FR10n11c2n GB4a14n GE2a16n GI4a15c GL14n GR7n16c GT24c HR17n HU24n IE4a14n IL19n "
    "IQ4a15n IS22n IT1a10n12c JO4a4n18c KW4a22c KZ3n13c LB4n20c LC4a24c LI5n12c LT16n "
    "LU3n13c LV4a13c LY21n MC10n11c2n MD20c ME18n MK3n10c2n MR23n MT4a5n18c MU4a19n3a "
    "NL4a10n NO11n PK4a16c PL24n PS4a21c PT21n QA4a21c RO4a16c RS18n SA2n18c SC4a20n3a "
    "SE20n SI15n SK20n SM1a10n12c ST21n SV4a20n TL19n TN20n TR6n16c UA6n19c VA18n VG4a16n "
    "XK16n"
)
_BBAN_STRUCTURES = {entry[:2]: entry[2:] for entry in _BBAN_REGISTRY.split()}
"""Each country's account part (BBAN) by the registry's "IBAN structure": ``n`` digits, ``a``
capitals, ``c`` either (SWIFT IBAN Registry; runs of one kind joined: ``8!n10!n`` is ``18n``)."""
_BBAN_CLASSES = {"n": "[0-9]", "a": "[A-Z]", "c": "[A-Z0-9]"}
_bban_patterns: dict[str, re.Pattern[str]] = {}


def _bban_ok(country: str, bban: str) -> bool:
    """Whether ``bban`` (upper case) has the structure its country registered, if known."""
    structure = _BBAN_STRUCTURES.get(country)
    if structure is None:
        return True
    pattern = _bban_patterns.get(country)
    if pattern is None:
        runs = re.findall(r"([0-9]+)([nac])", structure)
        pattern = re.compile("".join(f"{_BBAN_CLASSES[kind]}{{{n}}}" for n, kind in runs))
        _bban_patterns[country] = pattern
    return pattern.fullmatch(bban) is not None


_IBAN_IN_FOURS = re.compile(r"[A-Z]{2}[0-9]{2}(?:[ -]?[A-Z0-9]{4})*(?:[ -]?[A-Z0-9]{1,4})?")


def iban_ok(text: str) -> bool:
    """Whether ``text`` is an IBAN: its country's length and account structure, and mod 97.

    Spaces, dashes and dots are ignored. Written in the standard's groups of four (or
    none), a country missing from the registry table may have any IBAN length
    (15-34); grouped otherwise (``NO 02 1503 75 77003``), the country must be in the
    table: a number in odd groups after two capitals is more often something else.
    """
    written = text.replace(" ", "").replace("-", "").replace(".", "")
    compact = written.upper()
    if (
        not compact.isalnum()
        or not compact.isascii()
        or written[4:] not in (compact[4:], written[4:].lower())
    ):
        return False  # the account part in one case (``MC11...h79``; not ``LV80 bANK ...``)
    known = _IBAN_LENGTHS.get(compact[:2])
    if known is None and not _IBAN_IN_FOURS.fullmatch(text):
        return False
    if len(compact) != (known or len(compact)) or not 15 <= len(compact) <= 34:  # noqa: PLR2004
        return False
    if not _bban_ok(compact[:2], compact[4:]):
        return False  # BG93 BNBG 9661 1A20 3456 78: a letter where the registry has digits
    rearranged = compact[4:] + compact[:4]
    number = int("".join(str(int(c, 36)) for c in rearranged))
    return number % 97 == 1


_PEM_HEADER = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----\s*(?:[\w-]+:[^\n]*\n\s*)*")
_DER_LABELS = ("PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "DSA PRIVATE KEY",
               "ENCRYPTED PRIVATE KEY")  # fmt: skip
"""Labels whose body is base64 of a DER structure (RFC 7468, PKCS #1/#8, SEC 1)."""


def pem_key_ok(block: str) -> bool:
    """Whether a PEM or OpenPGP armored private key block holds key material.

    The body is base64 (RFC 7468): of a DER ``SEQUENCE`` for PKCS #1/#8 and SEC 1
    keys, so it starts with ``M``; of ``openssh-key-v1`` for OpenSSH keys (``b3Bl``);
    of OpenPGP packets, whose first byte has its high bit set (a base64 character
    from ``g`` on). Armor headers (``Proc-Type:``, ``Version:``) come first: behind
    them a key encrypted the old way may start with anything. An empty body or a
    word in its place (documentation) is no key.
    """
    header = _PEM_HEADER.match(block)
    if header is None:
        return False
    start = _BASE64_START.match(block, header.end())
    if start is None:
        return False
    body = start.group()
    label = header.group(1)
    if "Proc-Type:" in block[: header.end()]:
        return True
    if label.endswith("BLOCK"):  # OpenPGP
        return body[0] in _PGP_FIRST
    if label == "OPENSSH PRIVATE KEY":
        return body.startswith("b3Bl")
    return body[0] == "M" or label not in _DER_LABELS


_BASE64_START = re.compile(r"[A-Za-z0-9+/]{4}")
_PGP_FIRST = frozenset("ghijklmnopqrstuvwxyz0123456789+/")


def looks_random(text: str) -> bool:
    """Whether a word after ``Bearer`` is a credential rather than prose.

    Credentials mix digits, cases or punctuation (``abc.def-1``); ``bearer tokens.``
    and ``Bearer-Token`` stay readable: a word, maybe hyphenated, at a sentence's end.
    """
    words = text.rstrip(".").replace("-", " ")
    if words.replace(" ", "").isalpha() and (words.islower() or words.isupper() or words.istitle()):
        return False
    return len(text) >= 8  # noqa: PLR2004 - shortest credential the detector takes


def basic_credentials_ok(text: str) -> bool:
    """Whether a word after ``Basic`` is base64 of ``user-id:password`` (RFC 7617).

    Prose after the word "basic" (``basic configuration.``, ``Basic CloudFormation``)
    is no base64 of a text holding a colon.
    """
    padded = text.rstrip("=")
    padded += "=" * (-len(padded) % 4)
    try:
        decoded = base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        return False
    return b":" in decoded


def token_ok(text: str) -> bool:
    """Whether a provider token's body looks issued, not a placeholder.

    Issued tokens are random: ``ghp_xxxx...``, ``AKIAXXXX...`` or ``xoxb-123-abc`` in
    documentation and templates repeat a character or are too short to be real
    (Slack's shortest documented token has 20 characters after its prefix); AWS's
    documentation writes ``EXAMPLE`` into its keys (see ``documented_example``).
    """
    if documented_example(text):
        return False
    if text.startswith(("xox", "xapp")):
        body = text[text.find("-") + 1 :]
    elif "_" in text[:12]:  # ghp_..., sk_live_..., whsec_..., github_pat_..._...: the longest part
        body = max(text.split("_"), key=len)
    else:  # AKIA..., AIza...
        body = text[4:]
    if (
        text.startswith(("xox", "xapp"))
        and (
            len(body) < 20  # noqa: PLR2004
            or not (sum(c.isdigit() for c in body) >= 10 or any(c.isdigit() for c in body[2:]))  # noqa: PLR2004
        )
    ):
        return False
    return len(set(body.replace("_", "").replace("-", ""))) > 3 and not _counts_up(body)  # noqa: PLR2004


def documented_example(text: str) -> bool:
    """Whether ``text`` is a key of AWS's documentation: it holds ``EXAMPLE``.

    AWS writes its example keys that way (``AKIAIOSFODNN7EXAMPLE``, a Bedrock
    ``ABSK...EXAMPLE...``); a random upper-case key holds those seven letters about
    once in 36**7 positions.
    """
    return "EXAMPLE" in text


_ASCENDING = 8


def _counts_up(body: str) -> bool:
    """Whether ``body`` holds eight letters that follow the alphabet (``abcdefgh``).

    Templates fill a token's format with the alphabet; an issued token does so about
    once in 62**7.
    """
    run = 1
    for previous, char in itertools.pairwise(body):
        run = run + 1 if ord(char) == ord(previous) + 1 and char.isalpha() else 1
        if run == _ASCENDING:
            return True
    return False


_BEDROCK_PREFIXES = {"bedrock-api-key-": b"bedrock.amazonaws.com", "ABSK": b"BedrockAPIKey-"}


def bedrock_key_ok(text: str) -> bool:
    """An Amazon Bedrock API key: base64 of what AWS documents behind its prefix.

    A short-term key is ``bedrock-api-key-`` and a presigned ``bedrock.amazonaws.com``
    URL, a long-term key ``ABSK`` and ``BedrockAPIKey-...``, both base64-encoded.
    """
    if documented_example(text):
        return False
    prefix = "ABSK" if text.startswith("ABSK") else "bedrock-api-key-"
    body = text[len(prefix) :].rstrip("=")[:32]
    body = body[: len(body) // 4 * 4].replace("+", "-").replace("/", "_")
    try:
        decoded = base64.urlsafe_b64decode(body)
    except (binascii.Error, ValueError):
        return False
    return decoded.startswith(_BEDROCK_PREFIXES[prefix])


def ssn_ok(text: str) -> bool:
    """A US SSN as the SSA issues them: area not 000, 666 or 9xx, group not 00, serial not 0000.

    Written ``078-05-1120`` or with spaces; both separators the same.
    """
    area, group, serial = text[:3], text[4:6], text[7:]
    if text[3] != text[6] or area in ("000", "666") or area[0] == "9":
        return False
    return group != "00" and serial != "0000"


_NINO_FIRST_NOT = frozenset("DFIQUV")
_NINO_SECOND_NOT = frozenset("DFIOQUV")
_NINO_PREFIXES_NOT = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})


def nino_ok(text: str) -> bool:
    """A UK National Insurance number: HMRC's prefix letters, six digits, suffix A-D.

    Written in upper case or, in free text, lower case; not mixed.
    """
    compact = text.replace(" ", "")
    if not (compact.isupper() or compact.islower()):
        return False
    compact = compact.upper()
    prefix = compact[:2]
    return (
        len(compact) == 9  # noqa: PLR2004
        and prefix[0] not in _NINO_FIRST_NOT
        and prefix[1] not in _NINO_SECOND_NOT
        and prefix not in _NINO_PREFIXES_NOT
        and compact[2:8].isdigit()
        and compact[8] in "ABCD"
    )


_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def es_dni_ok(text: str) -> bool:
    """A Spanish DNI (8 digits) or NIE (X/Y/Z and 7 digits) with its mod-23 letter.

    A DNI below 10,000,000 is often written without its leading zero. Letters are
    upper case or, in free text, lower case (not mixed); a space before the letter
    only with an upper-case one (``12345678 a`` is a number and a word).
    """
    if not (text.isupper() or text.islower()) or (" " in text and not text[-1].isupper()):
        return False
    compact = text.replace("-", "").replace(" ", "").upper()
    number = compact[:-1]
    if number[:1] in ("X", "Y", "Z"):
        number = str("XYZ".index(number[0])) + number[1:]
    number = number.zfill(8)
    if len(number) != 8 or not number.isdigit():  # noqa: PLR2004
        return False
    return _DNI_LETTERS[int(number) % 23] == compact[-1]


_HETU_CHECK = "0123456789ABCDEFHJKLMNPRSTUVWXY"
_HETU_CENTURY = frozenset("+-ABCDEFUVWXY")


def fi_hetu_ok(text: str) -> bool:
    """A Finnish personal identity code ``DDMMYYCZZZQ``: a real date, century sign, mod-31.

    Its letters are upper case or, written by hand, lower case; not mixed.
    """
    sign = text[6].upper()
    if sign not in _HETU_CENTURY or (text[6].islower() and text[10].isupper()):
        return False
    century = {"+": 1800, "-": 1900}.get(sign, 1900 if sign in "UVWXY" else 2000)
    try:
        dt.date(century + int(text[4:6]), int(text[2:4]), int(text[:2]))
    except ValueError:
        return False
    digits = text[:6] + text[7:10]
    if not digits.isdigit() or int(text[7:10]) < 2:  # noqa: PLR2004 - individual numbers: 002-999
        return False
    return _HETU_CHECK[int(digits) % 31] == text[10].upper()


_CF_MONTHS = frozenset("ABCDEHLMPRST")
_OMOCODIA = str.maketrans("LMNPQRSTUV", "0123456789")
"""The letters that replace digits, from the right, when two people would get the same code
(omocodia): the second one's code has its last digit as a letter, and so on."""


def it_fiscal_code_ok(text: str) -> bool:
    """An Italian fiscal code (codice fiscale) by its layout: month letter, day 1-31 or 41-71.

    Its check letter is not required. An error is where a code failing validation
    shows up, and such a code is most often a real one mistyped: still personal
    data. The layout alone (six letters, year, month letter, day, municipality,
    check letter) is rare: about two in a million random upper-case 16-character
    words have it. Digits of the day and the municipality may be letters (omocodia).
    """
    if text[8] not in _CF_MONTHS:
        return False
    day = int(text[9:11].translate(_OMOCODIA))
    return 1 <= day <= 31 or 41 <= day <= 71  # noqa: PLR2004 - women: day + 40


def ipv4_ok(text: str) -> bool:
    """Whether every octet is 0..255 (a version number like 1.2.3.400 is not an address)."""
    return all(int(part) <= 255 for part in text.split("."))  # noqa: PLR2004 - octet range


def ipv6_ok(text: str) -> bool:
    """Whether ``text`` is an IPv6 address (``2001:db8::1``; not a time, ``12:30:45``)."""
    if text.count(":") < 2:  # noqa: PLR2004
        return False
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return text.strip(":") != "" and any(c.isalnum() for c in text)


def ip_ok(text: str) -> bool:
    """An IPv4 address (octets up to 255) or an IPv6 address."""
    if ":" in text:
        return ipv6_ok(text)
    return ipv4_ok(text)


def phone_ok(text: str) -> bool:
    """A phone number as written, by its count of digits.

    International (``+``/``00``, E.164: 8-15 digits), North American (10 digits) or
    national with a trunk ``0`` (9-12 digits).
    """
    digits = sum(c.isdigit() for c in text)
    if text.startswith("+"):
        return 8 <= digits <= 15  # noqa: PLR2004
    if text.startswith("00"):
        return 10 <= digits <= 17  # noqa: PLR2004
    if text.startswith("0"):
        return 9 <= digits <= 12  # noqa: PLR2004
    return digits == 10  # noqa: PLR2004
