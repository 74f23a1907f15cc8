"""Writes the labelled redaction corpus (positives.jsonl, negatives.jsonl) deterministically.

Run it after changing the generator: ``python tests/redaction_corpus/make_corpus.py``.
Secrets are synthetic (valid checksums where the format has one), placed in the
contexts they appear in for real: log lines, exception messages, URLs, SQL, JSON,
HTTP headers, attribute keys. Negatives are the values that look most like secrets
without being one: ids, hashes, timestamps, versions, numbers failing Luhn, routes.
"""

from __future__ import annotations

import base64
import json
import random
import string
from pathlib import Path
from urllib.parse import quote

HERE = Path(__file__).resolve().parent
RNG = random.Random(20261128)
ALNUM = string.ascii_letters + string.digits
HEX = "0123456789abcdef"


def rand(chars: str, n: int) -> str:
    return "".join(RNG.choice(chars) for _ in range(n))


def luhn_complete(prefix: str, length: int) -> str:
    body = prefix + rand(string.digits, length - len(prefix) - 1)
    for check in string.digits:
        candidate = body + check
        total = 0
        for i, d in enumerate(reversed(candidate)):
            n = int(d) * (2 if i % 2 else 1)
            total += n - 9 if n > 9 else n
        if total % 10 == 0:
            return candidate
    raise AssertionError


def fails_luhn(length: int) -> str:
    while True:
        number = rand("123456789", 1) + rand(string.digits, length - 1)
        total = 0
        for i, d in enumerate(reversed(number)):
            n = int(d) * (2 if i % 2 else 1)
            total += n - 9 if n > 9 else n
        if total % 10:
            return number


def iban(country: str, bban_length: int) -> str:
    """A valid IBAN of a random account part, as the registry structures it.

    GB and NL accounts start with a bank code in capitals (``4!a``): digits become letters.
    """
    bban = rand(string.digits, bban_length)
    if country in ("GB", "NL"):
        bban = "".join("ABCDEFGHIJ"[int(d)] for d in bban[:4]) + bban[4:]
    rearranged = bban + country + "00"
    numeric = int("".join(str(int(c, 36)) for c in rearranged))
    return f"{country}{98 - numeric % 97:02d}{bban}"


def spaced(text: str, every: int, sep: str = " ") -> str:
    return sep.join(text[i : i + every] for i in range(0, len(text), every))


def b64url(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def der_body(kind: str) -> str:
    """A PEM body as RFC 7468 has it: base64 of a DER SEQUENCE, or of an OpenSSH key."""
    if kind == "OPENSSH ":
        raw = b"openssh-key-v1\x00" + RNG.randbytes(180)
    else:
        raw = b"\x30\x82\x04\xa4" + RNG.randbytes(188)  # SEQUENCE, two length bytes
    text = base64.b64encode(raw).decode()
    return "\n".join(text[i : i + 64] for i in range(0, len(text), 64))


def pgp_body() -> str:
    """Base64 of OpenPGP packets: a secret-key packet's tag byte has its high bit set."""
    text = base64.b64encode(b"\x95\x03\x98" + RNG.randbytes(120)).decode()
    return "\n".join(text[i : i + 64] for i in range(0, len(text), 64))


def positives() -> list[dict[str, str]]:
    out: list[dict[str, str]] = []

    def add(detector: str, secret: str, template: str) -> None:
        out.append({"detector": detector, "secret": secret, "text": template.format(s=secret)})

    contexts = [
        "{s}",
        "failed for {s}",
        "user={s} status=error",
        '{{"contact": "{s}", "plan": "pro"}}',
        "ValueError: invalid input '{s}' at line 3",
        "INSERT INTO t VALUES ('{s}', 42)",
    ]
    for i in range(30):
        name = rand(string.ascii_lowercase, RNG.randint(3, 9))
        domain = RNG.choice(["example.com", "mail.example.org", "corp.example.co.uk", "ex.io"])
        add("email", f"{name}.{i}@{domain}", RNG.choice(contexts))
    card_prefixes = [("4", 16), ("51", 16), ("55", 16), ("2221", 16), ("34", 15), ("37", 15),
                     ("6011", 16), ("65", 16), ("3530", 16), ("62", 19)]  # fmt: skip
    for i in range(40):
        prefix, length = card_prefixes[i % len(card_prefixes)]
        number = luhn_complete(prefix, length)
        shown = RNG.choice([number, spaced(number, 4), spaced(number, 4, "-")])
        add("card", shown, RNG.choice([*contexts, "charge declined for card {s}"]))
    for i in range(25):
        country, length = [("DE", 18), ("GB", 18), ("FR", 23), ("NL", 14), ("ES", 20)][i % 5]
        code = iban(country, length)
        add("iban", RNG.choice([code, spaced(code, 4)]), RNG.choice(contexts))
    for _ in range(25):
        token = ".".join(
            [b64url({"alg": "HS256", "typ": "JWT"}),
             b64url({"sub": rand(string.digits, 8), "iat": RNG.randint(10**9, 2 * 10**9)}),
             rand(ALNUM + "-_", 43)]
        )  # fmt: skip
        add("jwt", token, RNG.choice(["token {s}", "cookie session={s}", "{s}", "jwt: {s}"]))
    for _ in range(20):
        token = rand(ALNUM + "-._~", RNG.randint(20, 60))
        add("bearer", token, RNG.choice(["Authorization: Bearer {s}", "sent bearer {s} to api",
                                         "Bearer {s}"]))  # fmt: skip
    for _ in range(10):
        creds = base64.b64encode(f"{rand(ALNUM, 6)}:{rand(ALNUM, 10)}".encode()).decode()
        add("bearer", creds, "Authorization: Basic {s}")
    for _ in range(10):
        kind = RNG.choice(["RSA ", "EC ", "OPENSSH ", ""])
        body = der_body(kind)
        key = f"-----BEGIN {kind}PRIVATE KEY-----\n{body}\n-----END {kind}PRIVATE KEY-----"
        add("private_key", body.split("\n")[1], key.replace("{", "{{").replace("}", "}}")
            + "\n")  # fmt: skip
    for _ in range(20):
        key_id = RNG.choice(["AKIA", "ASIA"]) + rand(string.ascii_uppercase + string.digits, 16)
        add("aws_access_key", key_id, RNG.choice([*contexts, "aws_access_key_id={s}"]))
    for _ in range(20):
        token = RNG.choice([f"ghp_{rand(ALNUM, 36)}", f"gho_{rand(ALNUM, 36)}",
                            f"github_pat_{rand(ALNUM + '_', 60)}"])  # fmt: skip
        add(
            "github_token", token, RNG.choice([*contexts, "git clone https://x:{s}@github.com/o/r"])
        )
    for _ in range(20):
        webhook = f"T{rand(ALNUM, 8)}/B{rand(ALNUM, 8)}/{rand(ALNUM, 24)}"
        token = RNG.choice([f"xoxb-{rand(string.digits, 12)}-{rand(ALNUM, 24)}",
                            f"xoxp-{rand(string.digits, 12)}-{rand(ALNUM, 24)}",
                            f"https://hooks.slack.com/services/{webhook}"])  # fmt: skip
        add("slack_token", token, RNG.choice(["posting to {s}", "{s}", "slack={s}"]))
    for _ in range(20):
        token = RNG.choice(["sk_live_", "sk_test_", "rk_live_"]) + rand(ALNUM, 24)
        add("stripe_key", token, RNG.choice(contexts))
    for _ in range(20):
        add("google_api_key", "AIza" + rand(ALNUM + "-_", 35), RNG.choice(contexts))
    for _ in range(25):
        password = rand(ALNUM + "!$%*", RNG.randint(8, 16))
        scheme = RNG.choice(["postgresql", "redis", "amqp", "https", "mysql"])
        add("url_password", password, scheme + "://app:{s}@db.internal:5432/shop")
    kv = [
        "password={s}", "passwd: {s}", "api_key={s}&page=2", "https://api.example.com/v1?token={s}",
        '{{"password": "{s}", "user": "bob"}}', "UPDATE users SET password = '{s}' WHERE id = 7",
        "client_secret: {s}", "secret={s}", "access_token={s}", "sessionid={s}; path=/",
        "x-api-key: {s}", "AWS_SECRET_ACCESS_KEY={s}", "login failed: password='{s}'",
    ]  # fmt: skip
    for i in range(40):
        add(
            "key_value",
            rand(ALNUM + "!@#%^*", RNG.randint(8, 24)).replace("@", "x"),
            kv[i % len(kv)],
        )
    for _ in range(15):
        phone = RNG.choice([f"+1 415 {rand(string.digits, 3)} {rand(string.digits, 4)}",
                            f"+44 20 {rand(string.digits, 4)} {rand(string.digits, 4)}",
                            f"+49-30-{rand(string.digits, 7)}"])  # fmt: skip
        add("phone", phone, RNG.choice(["call {s} now", "{s}", "phone: {s}"]))
    for _ in range(15):
        ip = ".".join(str(RNG.randint(1, 254)) for _ in range(4))
        add("ip_address", ip, RNG.choice(["client {s} blocked", "from {s}", "{s}"]))
    for _ in range(10):
        ip = f"2001:db8:{rand('0123456789abcdef', 4)}::{rand('0123456789abcdef', 3)}"
        add("ip_address", ip, RNG.choice(["client [{s}]:443 blocked", "from {s}", "{s}"]))
        four, four2 = rand(string.digits, 4), rand(string.digits, 4)
        phone = RNG.choice([f"(415) 555-{four}", f"030 {four} {four2}", f"0044 20 {four} {four2}"])
        add("phone", phone, RNG.choice(["call {s} now", "{s}", "tel: {s}"]))
    return out


DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"
HETU_CHECK = "0123456789ABCDEFHJKLMNPRSTUVWXY"
CF_ODD = dict(zip("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", (
    1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6,
    8, 12, 14, 16, 10, 22, 25, 24, 23), strict=True))  # fmt: skip


def ssn() -> str:
    area = RNG.choice([n for n in range(1, 900) if n != 666])
    sep = RNG.choice("- ")
    return f"{area:03d}{sep}{RNG.randint(1, 99):02d}{sep}{RNG.randint(1, 9999):04d}"


def nino() -> str:
    first = RNG.choice("ABCEGHJKLMNOPRSTWXYZ")
    excluded = {"BG", "GB", "NK", "KN", "NT", "TN", "ZZ"}
    second = RNG.choice([c for c in "ABCEGHJKLMNPRSTWXYZ" if first + c not in excluded])
    digits = rand(string.digits, 6)
    suffix = RNG.choice("ABCD")
    if RNG.random() < 0.5:
        return f"{first}{second}{digits}{suffix}"
    return f"{first}{second} {digits[:2]} {digits[2:4]} {digits[4:]} {suffix}"


def dni(*, valid: bool = True) -> str:
    if RNG.random() < 0.3:
        lead = RNG.choice("XYZ")
        number = str("XYZ".index(lead)) + rand(string.digits, 7)
        shown = lead + number[1:]
    else:
        number = shown = rand(string.digits, 8)
    letter = DNI_LETTERS[(int(number) + (0 if valid else 1)) % 23]
    return shown + RNG.choice(["", "-"]) + letter


def hetu(*, valid: bool = True) -> str:
    year = RNG.randint(1930, 2015)
    sign = "-" if year < 2000 else "A"
    date = f"{RNG.randint(1, 28):02d}{RNG.randint(1, 12):02d}{year % 100:02d}"
    individual = f"{RNG.randint(2, 899):03d}"
    check = HETU_CHECK[(int(date + individual) + (0 if valid else 1)) % 31]
    return f"{date}{sign}{individual}{check}"


def fiscal_code(*, valid: bool = True, day: int | None = None) -> str:
    """A codice fiscale; ``valid=False`` mistypes its check letter, ``day`` sets its day."""
    if day is None:
        day = RNG.choice([RNG.randint(1, 31), RNG.randint(41, 71)])
    body = (rand(string.ascii_uppercase, 6) + rand(string.digits, 2) + RNG.choice("ABCDEHLMPRST")
            + f"{day:02d}" + RNG.choice(string.ascii_uppercase)
            + rand(string.digits, 3))  # fmt: skip
    total = sum(CF_ODD[c] if i % 2 == 0 else (int(c) if c.isdigit() else ord(c) - 65)
                for i, c in enumerate(body))  # fmt: skip
    return body + chr(65 + (total + (0 if valid else 1)) % 26)


def spec_positives() -> list[dict[str, str]]:
    """Families and syntaxes derived from their specifications (issue 13)."""
    out: list[dict[str, str]] = []

    def add(detector: str, secret: str, template: str) -> None:
        out.append({"detector": detector, "secret": secret, "text": template.format(s=secret)})

    prose = ["customer {s} not found", "{s}", "verify id={s} failed", "KYC document {s} rejected"]
    for _ in range(20):
        add("us_ssn", ssn(), RNG.choice(prose))
        add("uk_nino", nino(), RNG.choice(prose))
        add("es_dni", dni(), RNG.choice(prose))
        add("fi_hetu", hetu(), RNG.choice(prose))
        add("it_fiscal_code", fiscal_code(), RNG.choice(prose))
        add("it_fiscal_code", fiscal_code(valid=False), "codice fiscale {s} non valido")
    for _ in range(10):
        ref = f"order-{RNG.randint(2020, 2030)}-{rand(string.digits, 4)}"
        add("database_value", ref, 'duplicate key value violates unique constraint "orders_ref_key"'
            "\nDETAIL:  Key (ref)=({s}) already exists.")  # fmt: skip
        email = f"{rand(string.ascii_lowercase, 6)}@example.com"
        add("database_value", email, 'null value in column "name" violates not-null constraint'
            "\nDETAIL:  Failing row contains (7, {s}, null).")  # fmt: skip
    for _ in range(10):
        app_token = f"xapp-1-A{rand(ALNUM, 10)}-{rand(string.digits, 13)}-{rand(HEX, 64)}"
        add("slack_token", app_token, "{s}")
        add("slack_token", f"xoxe.xoxp-1-{rand(ALNUM, 140)}", "config token {s}")
        add("slack_token", f"xoxe-1-{rand(ALNUM, 120)}", "refresh_with={s}")
    for _ in range(10):
        claims = b64url({"sub": rand(string.digits, 6)})
        unsigned = b64url({"alg": "none", "typ": "JWT"}) + "." + claims + "."
        add("jwt", unsigned, RNG.choice(["token {s}", "{s}"]))
        body = pgp_body()
        add("private_key", body.split("\n")[1], "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n" + body
            + "\n=" + rand(ALNUM, 4) + "\n-----END PGP PRIVATE KEY BLOCK-----")  # fmt: skip
    for _ in range(5):  # RFC 7516 compact JWE; direct encryption leaves the key part empty
        header = b64url({"alg": "dir", "enc": "A256GCM"})
        jwe = f"{header}..{rand(ALNUM, 16)}.{rand(ALNUM + '-_', 40)}.{rand(ALNUM, 22)}"
        add("jwt", jwe, RNG.choice(["token {s}", "{s}"]))
        signed_url = "bedrock.amazonaws.com/?Action=CallWithBearerToken&X-Amz-Date=" + rand(
            string.digits, 8
        )
        short_term = "bedrock-api-key-" + base64.b64encode(signed_url.encode()).decode()
        add("aws_access_key", short_term, RNG.choice(["key {s}", "{s}"]))
        long_term = "ABSK" + base64.b64encode(b"BedrockAPIKey-" + RNG.randbytes(30)).decode()
        add("aws_access_key", long_term, RNG.choice(["key {s}", "{s}"]))
    for _ in range(5):  # written in lower case, or without a DNI's leading zero
        add("uk_nino", nino().lower(), RNG.choice(prose))
        add("es_dni", dni().lower(), RNG.choice(prose))
        number = str(RNG.randint(1_000_000, 9_999_999))
        add("es_dni", number + DNI_LETTERS[int(number) % 23], RNG.choice(prose))
        add("fi_hetu", hetu(), "henkilötunnus:{s}, kiitos")
    for prefix, length in [("1", 15), ("6759", 16), ("676770", 16), ("5018", 12), ("2200", 16)]:
        for _ in range(4):
            add("card", luhn_complete(prefix, length), RNG.choice(["card {s} declined", "{s}"]))
    for _ in range(10):
        code = iban("BE", 12) if RNG.random() < 0.5 else iban("NL", 14)
        add("iban", RNG.choice([spaced(code, 4, "-"), code]), "{s} EUR")
    for _ in range(10):
        label = f"xn--{rand(string.ascii_lowercase, 5)}-{rand(string.ascii_lowercase, 3)}"
        add("email", f"{rand(string.ascii_lowercase, 5)}@{label}.xn--p1ai", "{s}")
    syntaxes = [
        "genericToken={s}", "slackToken: {s}", "IBMCLOUDIAMAPIKEY={s}", "slapi_key={s}",
        'password_super_secure = "{s} with spaces"', 'token := "{s}"', "DB_PASSWORD ?= {s}",
        '$pass .= "{s}";', 'string password = @"{s}";', "<password>{s}</password>",
        "curl -u admin:{s} https://api.example.com", "connect(host, pw='{s}')",
        'var apiToken string = "{s}"', 'setenv("API_SECRET", "{s}")',
        '{{"detail": "login failed: password = \\"{s}\\""}}', "PASSWORD ::= {s}",
        "https://example.com/cb?state=1&redirect=%2Fhome%3Ftoken%3D{s}",
        'if ("{s}" == password) {{', "if (token != '{s}')", 'if ("{s}" === my_private_key) {{',
        'std::string secret("{s}");', 'user.setPassword("{s}");', 'password "{s}";',
        'char api_secret[32] = "{s}";', "secret = {s},!x", "client_secret := {s}?",
        "curl --user  ''deploy:{s}'' https://api.example.com", 'curl --user "deploy":"{s}" x',
        'creds = {{"API_TOKEN", "{s}"}}', "<ClientSecret>{s}</ClientSecret>",
    ]  # fmt: skip
    for template in syntaxes:
        add("key_value", rand(ALNUM, 16), template)
    for _ in range(5):  # a JOSE header alone: a JWE header with its ephemeral key, a token cut
        point = {"kty": "EC", "crv": "P-256", "x": rand(ALNUM, 43), "y": rand(ALNUM, 43)}
        add("jwt", b64url({"alg": "ECDH-ES", "enc": "A256GCM", "epk": point}), "{s}")
        cut = b64url({"alg": "RS256", "typ": "JWT", "kid": rand(HEX, 16)})[: RNG.randint(24, 60)]
        add("jwt", cut, RNG.choice(["token {s}", "invalid header {s}"]))
    return out


CARRIERS = {
    "log": "2026-11-28T10:00:00Z ERROR payment failed: {t} request_id=42",
    "stacktrace": 'Traceback (most recent call last):\n  File "/srv/app/pay.py", line 9, in pay\n'
                  "    charge(order)\nValueError: {t}\n",
    "sql": "INSERT INTO audit (note) VALUES ('{t}')",
}  # fmt: skip


def in_carriers(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """Each row as written, and its text inside a log line, stack trace, SQL, JSON body, URL."""
    out = []
    for row in rows:
        text, secret = row["text"], row["secret"]
        out.append(dict(row, carrier="as_is"))
        for carrier, template in CARRIERS.items():
            wrapped = text.replace("'", "''") if carrier == "sql" else text
            shown = secret.replace("'", "''") if carrier == "sql" else secret
            out.append(dict(row, carrier=carrier, text=template.replace("{t}", wrapped),
                            secret=shown))  # fmt: skip
        out.append(dict(row, carrier="json", text=json.dumps({"error": text, "status": 500}),
                        secret=json.dumps(secret)[1:-1]))  # fmt: skip
        out.append(dict(row, carrier="url",
                        text="https://shop.example.com/debug?note=" + quote(text, safe="") + "&x=1",
                        secret=quote(secret, safe="")))  # fmt: skip
    return out


def key_positives() -> list[dict[str, str]]:
    keys = [
        "password", "db.password", "http.request.header.authorization", "X-Api-Key", "apiKey",
        "http.request.header.cookie", "http.response.header.set-cookie", "session_id",
        "client_secret", "private_key", "credit_card", "card_number", "user.ssn", "AUTH_TOKEN",
        "refresh-token", "aws.secret_access_key", "stripe.signature", "x-csrf-token", "user.pin",
        "app.credentials",
    ]  # fmt: skip
    out = []
    for key in keys:
        secret = rand(ALNUM, 14)
        out.append({"detector": "secret_key", "key": key, "secret": secret, "text": secret})
    for key in ("user.id", "enduser.id"):
        for _ in range(5):
            secret = f"user-{rand(string.digits, 6)}"
            out.append({"detector": "user_id", "key": key, "secret": secret, "text": secret})
    return out


def negatives() -> list[dict[str, str]]:
    out: list[dict[str, str]] = []

    def add(kind: str, text: str) -> None:
        out.append({"kind": kind, "text": text})

    for _ in range(30):
        add("uuid", "-".join(rand("0123456789abcdef", n) for n in (8, 4, 4, 4, 12)))
    for _ in range(25):
        add("trace_id", rand("0123456789abcdef", 32))
        add("span_id", rand("0123456789abcdef", 16))
    for _ in range(25):
        add("git_sha", rand("0123456789abcdef", 40))
    for _ in range(10):
        add(
            "base64_image", "data:image/png;base64," + rand(string.ascii_letters + "+/", 120) + "=="
        )
    for _ in range(20):
        add("timestamp", f"2026-{RNG.randint(1, 12):02d}-{RNG.randint(1, 28):02d}T"
                         f"{RNG.randint(0, 23):02d}:{RNG.randint(0, 59):02d}:00.123Z")  # fmt: skip
        add("epoch", str(RNG.randint(1_600_000_000_000, 1_900_000_000_000)))
        add("epoch_ns", str(RNG.randint(1_600_000_000 * 10**9, 1_900_000_000 * 10**9)))
    for _ in range(20):
        add("version", f"{RNG.randint(0, 20)}.{RNG.randint(0, 40)}.{RNG.randint(0, 99)}"
                       + RNG.choice(["", "-rc1", "b2", ".post1"]))  # fmt: skip
    for _ in range(30):
        add("long_number", fails_luhn(RNG.choice([13, 15, 16, 19])))
    for _ in range(15):
        add("order_id", f"ORD-{rand(string.digits, 10)}")
    routes = ["/orders/{order_id}", "/api/v1/users/{id}/tokens", "/health",
              "/products/{product_id}/views", "GET /search", "/auth/login",
              "/password-reset"]  # fmt: skip
    for route in routes:
        add("route", route)
    prose = [
        "Connection refused while contacting the recommender",
        "order 42 shipped to the warehouse in Hamburg",
        "retrying in 2.5 seconds (attempt 3 of 5)",
        "The author of the change is Jane; see the design document",
        "token count: 1523, prompt length 812",
        "password reset requested for the account",
        "Cache miss for key product:17",
        "SELECT id, name FROM products WHERE id = $1",
        "GET https://api.example.com/v1/items?page=2&sort=asc 200 OK in 12.5ms",
        "pod shop-7d9f8c6b5-x2k4p restarted",
        "Processing batch 2026-11-28 (3 of 12)",
        "content-type: application/json; charset=utf-8",
        "user 1234 viewed product 998877",
        "duration=0.125s status=200 route=/orders",
        "image sha256:" + rand("0123456789abcdef", 64),
        "commit " + rand("0123456789abcdef", 40) + " by jane",
        "temperature 21.5C humidity 40%",
        "version 1.2.3.4 deployed",
        "listening on 127.0.0.1:8700",
        "TASK-003: task exceeded its time limit",
        "token verification failed for the request",
        "Basic authentication is disabled on this endpoint",
        "bearer tokens are required by the gateway",
        "digest mismatch for artifact shop-web",
        "session expired; please sign in again",
        "secret rotation completed for 3 services",
    ]  # fmt: skip
    for sentence in prose:
        add("prose", sentence)
    for _ in range(15):
        add(
            "path",
            "/var/lib/app/"
            + rand(string.ascii_lowercase, 8)
            + "/"
            + rand(string.digits, 6)
            + ".log",
        )
        add(
            "hostname",
            rand(string.ascii_lowercase, 6) + "-" + rand(string.digits, 2) + ".svc.cluster.local",
        )
    for _ in range(10):
        add("hex_color", "#" + rand("0123456789abcdef", 6))
        add("mime", RNG.choice(["application/json", "text/html", "image/png"]))
    for _ in range(10):  # identifiers failing their check digits, and look-alikes
        add("invalid_dni", "customer " + dni(valid=False))
        add("invalid_hetu", "id " + hetu(valid=False))
        add("fiscal_code_lookalike", fiscal_code(day=RNG.randint(32, 40)))  # no such day
        area = RNG.choice(["000", "666", "912"])
        add("invalid_ssn", f"ref {area}-{rand(string.digits, 2)}-{rand(string.digits, 4)}")
        add("invalid_nino", f"code {RNG.choice(['DA', 'QQ', 'GB', 'ZZ'])}{rand(string.digits, 6)}A")
        add("invalid_iban", "DE89 3704 0044 0532 0130 0" + str(RNG.randint(1, 9)))
        add("time", f"{RNG.randint(0, 23):02d}:{RNG.randint(0, 59):02d}:{RNG.randint(0, 59):02d}")
        add("placeholder_token", RNG.choice(["ghp_" + "x" * 36, "AKIA" + "X" * 16, "xoxb-xxx",
                                             "sk_live_" + "0" * 24,
                                             "AKIAIOSFODNN7EXAMPLE"]))  # fmt: skip
    for text in ("https://blog.example.org/img/xoxo-indieweb-1.jpg",
                 "GITHUB_API_KEY=\nDYNATRACE_API_KEY=", '"https://url:8000";@x',
                 "password: ${DB_PASSWORD}", "token={{ secrets.TOKEN }}", "api_key=%(api_key)s",
                 "token_type=bearer expires_in=3600", "python -u app.py --user jane",
                 "Key (id)=(42) is fine in prose", "secret rotation finished: 3 keys",
                 "curl -u user:pass https://api.example.com", "curl -u 'test:test' x",
                 "curl -u <user:password> https://x.test", 'curl --user "xxx:yyy"',
                 'curl -u "${USER}":"${PASSWORD}" x', "password = self.password",
                 "self.api_token = settings.API_TOKEN", 'secret = get_secret("db")',
                 'token = vault.read_token("payments")', "if (password == null) {",
                 'if ("" == password)', "<UserSecretsId>" + "-".join(
                     rand("0123456789abcdef", n) for n in (8, 4, 4, 4, 12)) + "</UserSecretsId>",
                 "secrets_path=/etc/app/secrets", "password: password",
                 "AIzaSyabcdefghijklmnopqrstuvwxyz1234567", "rtol=3.1250003e-6",
                 "at offset 0700002C:0010", "latency_s=0.6011000990139424",
                 "$Id: app.py 10045 2025-03-09 01:02:23Z dev $", "wrote 429496729600 bytes",
                 "Basic CloudFormation template", "Decode basic properties.",
                 "amqp://guest:guest@localhost/", "redis://:secret@localhost:6379/0",
                 "def connect(password: str | None = None, token: Optional[str] = None):",
                 "-----BEGIN PRIVATE KEY-----\n...\n-----END PRIVATE KEY-----",
                 "-----BEGIN RSA PRIVATE KEY----------END RSA PRIVATE KEY-----",
                 "bedrock-api-key-" + base64.b64encode(b"example.com/not-bedrock").decode(),
                 'the password "reset" link expired', "password reset token sent"):  # fmt: skip
        add("look_alike", text)
    for _ in range(5):  # base64url JSON without a JOSE header: claims alone, a typ without alg
        add("jose_look_alike", "claims " + b64url({"sub": rand(string.digits, 8), "name": "x"}))
        add("jose_look_alike", b64url({"typ": "JWT", "kid": rand(HEX, 12)}))
    return out


def iban_of(country: str, bban: str) -> str:
    """The IBAN of a given account part (letters too: ``GB.. WEST ...``)."""
    numeric = int("".join(str(int(c, 36)) for c in bban + country + "00"))
    return f"{country}{98 - numeric % 97:02d}{bban}"


OMOCODIA = "LMNPQRSTUV"
"""The letters standing for 0-9 where a fiscal code's digits are replaced (omocodia)."""


def omocodic_fiscal_code(replaced: int) -> str:
    """A codice fiscale whose last ``replaced`` digits are letters, its check letter recomputed."""
    body = fiscal_code()[:15]
    digits = [i for i, c in enumerate(body) if c.isdigit()][::-1][:replaced]
    chars = list(body)
    for i in digits:
        chars[i] = OMOCODIA[int(chars[i])]
    body = "".join(chars)
    total = sum(CF_ODD[c] if i % 2 == 0 else (int(c) if c.isdigit() else ord(c) - 65)
                for i, c in enumerate(body))  # fmt: skip
    return body + chr(65 + total % 26)


def round_three() -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """Shapes the specifications allow that a third-party held-out set showed missing.

    And their look-alikes; generated after the rest, so that earlier rows do not change.
    """
    found: list[dict[str, str]] = []
    kept: list[dict[str, str]] = []

    def add(detector: str, secret: str, template: str) -> None:
        found.append({"detector": detector, "secret": secret, "text": template.format(s=secret)})

    for _ in range(5):  # RFC 7519: a token cut after its payload (no signature part)
        claims = b64url({"sub": rand(string.digits, 8), "exp": RNG.randint(10**9, 2 * 10**9)})
        add("jwt", b64url({"alg": "HS256", "typ": "JWT"}) + "." + claims, "token {s} expired")
    for _ in range(5):  # IBANs as people group them: national groupings, dots, dashes
        no = iban("NO", 11)
        add("iban", f"{no[:2]} {no[2:4]} {no[4:8]} {no[8:10]} {no[10:]}", "konto {s}")
        add("iban", f"{no[:4]}.{no[4:8]}.{no[8:10]}.{no[10:]}", "{s}")
        es = iban("ES", 20)
        add("iban", f"{es[:4]} {es[4:8]}-{es[8:12]}-{es[12:14]}-{es[14:]}", "cuenta {s}")
        mc = iban_of("MC", rand(string.digits, 20) + "h" + rand(string.digits, 2))
        add("iban", spaced(mc[:4] + mc[4:].lower(), 4), "{s}")  # a lower-case account part
    for replaced in (1, 2, 3):
        add("it_fiscal_code", omocodic_fiscal_code(replaced), "codice fiscale {s}")
    for _ in range(3):
        add("fi_hetu", hetu().lower(), "hetu {s}")  # written by hand in lower case
        webhook = f"T{rand(ALNUM, 8)}/B{rand(ALNUM, 8)}/{rand(ALNUM, 24)}"
        add("slack_token", f"hooks.slack.com/services/{webhook}", "http://{s}")
        add("slack_token", f"hooks.slack.com/services/{webhook}", "posted to {s}")
        add("key_value", rand(HEX, 40), "Authorization: " + RNG.choice(["Api-Token", "SSWS"])
            + " {s}")  # fmt: skip
        add("key_value", f"{{AQAAABAAA {rand(ALNUM, 40)}}}", "<secret>{s}</secret>")
        add("key_value", rand(ALNUM, 30), "creds = {s}")
        add("url_password", rand(ALNUM, 12), "mongodb://admin:{s}@cluster.example.net:27017/db")
    for _ in range(3):
        gb = iban_of("GB", "WEST" + rand(string.digits, 14))
        kept.append({"kind": "iban_look_alike", "text": spaced(gb[:4] + "wEST" + gb[8:], 4)})
    for text in ('curl -H "Authorization: Bearer <your API token>" https://api.example.com',
                 'curl -H "Authorization: Bearer XXXXXXXXXXXX" https://api.example.com',
                 "access_token_url='https://github.com/login/oauth/access_token'",
                 "password_file=/run/secrets/db_password", "auth_method=oauth2",
                 'MONGO_URI = "mongodb://user:password@db.example.com:27017/mydb"',
                 "https://username:password@example.com/api", "file eyJhbGciOiJIUzI1NiJ9.json",
                 "ID 12 3456 7890 1234 56"):  # fmt: skip
        kept.append({"kind": "look_alike", "text": text})  # noqa: PERF401 - one per line
    return found, kept


def main() -> None:
    positive_rows = in_carriers(positives() + spec_positives()) + key_positives()
    negative_rows = negatives()
    found, kept = round_three()
    for name, rows in (
        ("positives.jsonl", positive_rows + in_carriers(found)),
        ("negatives.jsonl", negative_rows + kept),
    ):
        with (HERE / name).open("w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        print(f"{name}: {len(rows)} rows")


if __name__ == "__main__":
    main()
