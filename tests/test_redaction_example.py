"""End to end: the shop under the launcher, with secrets planted everywhere they hide.

Secrets ride in request headers (captured as span attributes), query strings, an
exception message (the shop puts the full card number in ``CardDeclined``) and a log
line (it logs the card too). None of them may appear in any exported span, log
record or metric point (the embedded default's JSON lines), nor in our JSON console
logs on stderr (turned on here; the server's own plain console output is the
application's, untouched); the ``redactions`` counter shows what was caught, by rule.
"""

from __future__ import annotations

import json
from pathlib import Path

from test_example_shop import SHOP, run_shop

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJqYW5lIn0.c2lnbmF0dXJlLXNlY3JldC0x"
API_KEY = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"
QUERY_TOKEN = "q7Zk29xLmPa81"  # noqa: S105 - planted on purpose
EMAIL = "jane.planted@example.com"
DECLINED_CARD = "4000000000000002"  # the shop logs it and puts it in the exception
PLANTED = (JWT, API_KEY, QUERY_TOKEN, EMAIL, DECLINED_CARD)


def test_no_planted_secret_leaves_the_shop(tmp_path, postgres_dsn, redis_url):
    data = tmp_path / "data"
    stderr = run_shop(
        data, postgres_dsn, redis_url,
        env_extra={
            "OTEL_METRIC_EXPORT_INTERVAL": "500",
            "OTEL_ERRORS_LOG_CONSOLE_JSON": "true",
            "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST": "authorization,x-api-key",
        },
        traffic=("--requests", "40", "--header", f"Authorization: Bearer {JWT}",
                 "--header", f"X-Api-Key: {API_KEY}",
                 "--query", f"access_token={QUERY_TOKEN}&contact={EMAIL}"),
    )  # fmt: skip

    exported = {name: (data / name).read_text() for name in ("spans.jsonl", "logs.jsonl")}
    exported["metrics.jsonl"] = (data / "metrics.jsonl").read_text()
    exported["JSON logs on stderr"] = "\n".join(
        line for line in stderr.splitlines() if line.startswith("{")
    )
    assert exported["JSON logs on stderr"], stderr[-2000:]
    for where, text in exported.items():
        for secret in PLANTED:
            assert secret not in text, f"{secret!r} leaked into {where}"

    # The secrets really were there to catch: the planted values reached the spans.
    spans = [json.loads(line) for line in exported["spans.jsonl"].splitlines()]
    servers = [s for s in spans if s["kind"] == "SERVER"]
    assert any(
        s["attributes"].get("http.request.header.authorization") == ["[REDACTED:secret_key]"]
        and s["attributes"].get("url.query", "").startswith("access_token=[REDACTED:")
        for s in servers
    ), servers[0]["attributes"]
    declines = [
        e["attributes"] for s in spans for e in s["events"]
        if e["attributes"].get("error.code") == "PAY-002"
    ]  # fmt: skip
    assert declines
    assert "[REDACTED:card]" in declines[0]["exception.message"]
    assert "[REDACTED:card]" in exported["logs.jsonl"]
    rules = _redaction_rules(exported["metrics.jsonl"])
    assert {"secret_key", "card"} <= rules, rules
    assert "otel_errors: internal failure" not in stderr


def _redaction_rules(metrics_jsonl: str) -> set[str]:
    rules = set()
    for line in metrics_jsonl.splitlines():
        point = json.loads(line)
        if point.get("name") == "redactions":
            rules.add(point["attributes"]["rule"])
    return rules


def test_planted_values_are_what_the_detectors_look_for():
    """Guards the test above: each planted value, as planted, is a secret the engine knows."""
    from otel_errors._internal.scrubbing import RedactionConfig, Redactor

    redactor = Redactor(RedactionConfig.build())
    as_planted = (f"Bearer {JWT}", API_KEY, f"access_token={QUERY_TOKEN}", EMAIL,
                  f"provider declined card {DECLINED_CARD}")  # fmt: skip
    for text, secret in zip(as_planted, PLANTED, strict=True):
        redacted, fired = redactor.redact_text(text)
        assert secret not in redacted, secret
        assert fired, secret
    assert Path(SHOP / "app.py").read_text().count("provider declined card {card}") == 1
