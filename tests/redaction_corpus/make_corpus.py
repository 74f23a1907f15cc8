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

HERE = Path(__file__).resolve().parent
RNG = random.Random(20261128)
ALNUM = string.ascii_letters + string.digits


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
    bban = rand(string.digits, bban_length)
    rearranged = bban + country + "00"
    numeric = int("".join(str(int(c, 36)) for c in rearranged))
    return f"{country}{98 - numeric % 97:02d}{bban}"


def spaced(text: str, every: int, sep: str = " ") -> str:
    return sep.join(text[i : i + every] for i in range(0, len(text), every))


def b64url(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


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
        body = "\n".join(rand(ALNUM + "+/", 64) for _ in range(4))
        kind = RNG.choice(["RSA ", "EC ", "OPENSSH ", ""])
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
    return out


def main() -> None:
    for name, rows in (
        ("positives.jsonl", positives() + key_positives()),
        ("negatives.jsonl", negatives()),
    ):
        with (HERE / name).open("w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        print(f"{name}: {len(rows)} rows")


if __name__ == "__main__":
    main()
