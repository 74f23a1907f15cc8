"""Attribute keys that name secrets, matched case- and separator-insensitively.

``X-Api-Key``, ``api_key``, ``apiKey`` and ``http.request.header.x-api-key`` all
normalise to a string containing ``apikey``. HTTP header names become attribute keys
(``http.request.header.authorization``) and URL query parameter names are keys
inside values (the ``key_value`` detector), so both are covered. Counts that merely
mention a word (``gen_ai.usage.input_tokens``, ``db.session.count``,
``llm.token_count.prompt``) are not secrets: a key ending in a plural or a count
suffix, or where a count word follows the secret word, is exempt, and so is one naming
where a secret is kept or how it is used (``token_url``, ``password_file``,
``auth_method``); only string values are masked by key (a number under a "token" key
is a count, not a token).

``user.id`` and ``enduser.id`` are personal data that teams still need to
correlate: they become ``user.hash`` (keyed hash) instead of being masked.
"""

from __future__ import annotations

import re

SECRET_WORDS = (
    "password", "passwd", "passphrase", "pwd", "secret", "token", "apikey", "accesskey",
    "privatekey", "authorization", "auth", "cookie", "setcookie", "session", "sessionid",
    "creditcard", "cardnumber", "ccnumber", "cvv", "cvc", "ssn", "socialsecurity",
    "credential", "creds", "signature", "csrf", "xsrf", "jwt", "bearer", "iban", "pin", "pass",
    "pw", "sig", "sid",
)  # fmt: skip
"""Words that make a key sensitive, after lower-casing and removing ``-_. `` separators."""

USER_ID_KEYS = frozenset({"user.id", "enduser.id"})
USER_HASH_KEY = "user.hash"

_SEPARATORS = str.maketrans("", "", "-_. /:")
_WORDS = re.compile("|".join(sorted(SECRET_WORDS, key=len, reverse=True)))
_WHERE = ("url", "uri", "endpoint", "file", "path", "source", "provider", "method", "mode",
          "server", "host", "scheme")  # fmt: skip
"""Words naming where a secret is kept or how it is used (``token_url``, ``password_file``,
``AuthSource``): the key's value is that place or manner, not the secret."""
_EXEMPT_ENDINGS = ("tokens", "count", "counts", "length", "size", "total", "type", "name",
                   "enabled", "expiry", "expires", "expiresat", "ttl", "used", "limit",
                   "tokenizer", *_WHERE)  # fmt: skip
_MEASURES = ("count", "length", "size", "total", "type", "name", "limit", "ttl", "expir", *_WHERE)
"""Words that, right after a secret word, make the key describe it, not hold it."""
_SHORT_WORDS = frozenset(
    {"pin", "auth", "jwt", "ssn", "cvv", "cvc", "pwd", "iban", "pass", "pw", "sig", "sid"}
)


def normalise(key: str) -> str:
    """Lower case without separators: ``X-Api-Key`` -> ``xapikey``."""
    return key.lower().translate(_SEPARATORS)


def key_is_secret(key: str) -> str | None:
    """The secret word the key names, or None.

    Short words (``pin``, ``auth``, ``jwt``, ...) only count as a whole segment of the
    key (``user.pin``, ``x-auth``), so ``spinner``, ``author`` and ``pinned`` stay. A
    plural followed by more words names something a collection of secrets has, not a
    secret: ``UserSecretsId``, ``secrets_path``, ``passwords_file``.
    """
    normal = normalise(key)
    if normal.endswith(_EXEMPT_ENDINGS):
        return None
    segments: list[str] | None = None
    for match in _WORDS.finditer(normal):
        word = match.group()
        if normal.startswith(_MEASURES, match.end()):
            continue  # what measures a secret, then more words: llm.token_count.prompt
        if normal.startswith("s", match.end()) and match.end() + 1 < len(normal):
            segments = segments or _segments(key)
            if any(segment.endswith(word + "s") for segment in segments[:-1]):
                continue  # a plural, then more: what a collection has (UserSecretsId)
        if word not in _SHORT_WORDS:
            return word
        segments = segments or _segments(key)
        if word in segments:
            return word
    return None


def _segments(key: str) -> list[str]:
    """The words of ``key`` in order, lower case: ``UserSecretsId`` -> user, secrets, id."""
    parts = re.split(r"[-_. /:]|(?<=[a-z])(?=[A-Z])", key)
    return [p.lower() for p in parts if p]
