"""Drives a bounded mix of good and failing requests at the shop, then exits.

python examples/shop/traffic.py --requests 200

``--only REGEX`` keeps the requests whose ``METHOD /path`` matches (for example only
the buggy ``average`` endpoint), with the JSON body after a space where there is one
(``--only 4000000000000003`` keeps the orders paid with the card that stalls the
payment provider); ``--header`` and ``--query`` add what real clients
send with every request, such as an ``Authorization`` header.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time

import requests

GOOD_CARD = "4000000000000001"
DECLINED_CARD = "4000000000000002"
STALLING_CARD = "4000000000000003"
DROPPING_CARD = "4000000000000004"

# (weight, method, path, json body); an order's "idempotency_key" goes into the
# Idempotency-Key header (a repeated key is a unique violation in PostgreSQL).
MIX: list[tuple[int, str, str, dict[str, object] | None]] = [
    (30, "GET", "/products/1", None),
    (10, "GET", "/products/3", None),
    (8, "GET", "/products/42", None),
    (20, "POST", "/orders", {"product_id": 1, "quantity": 1, "card": GOOD_CARD}),
    (6, "POST", "/orders", {"product_id": 2, "quantity": 1, "card": GOOD_CARD}),
    (6, "POST", "/orders", {"product_id": 3, "quantity": 2, "card": DECLINED_CARD}),
    (3, "POST", "/orders", {"product_id": 3, "quantity": 1, "card": STALLING_CARD}),
    (3, "POST", "/orders", {"product_id": 3, "quantity": 1, "card": DROPPING_CARD}),
    (4, "POST", "/orders", {"product_id": 1, "quantity": 99, "card": GOOD_CARD}),
    (10, "GET", "/recommendations/7", None),
    (5, "GET", "/orders/1/average", None),
    (3, "GET", "/orders/2/average", None),
    (2, "GET", "/orders/3/average", None),
    # The same order twice: the second is a unique violation (DB-1002) with PostgreSQL.
    (2, "POST", "/orders", {"product_id": 3, "quantity": 1, "card": GOOD_CARD,
                            "idempotency_key": "order-2026-0001"}),
    (2, "POST", "/orders", {"product_id": 3, "quantity": 1, "card": GOOD_CARD,
                            "idempotency_key": "order-2026-0001"}),
    (2, "GET", "/users/7/recently-viewed", None),
    (3, "POST", "/products/1/views", None),
]  # fmt: skip


def wait_until_up(base: str, seconds: float) -> None:
    """Polls /health until it answers; exits with a message after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base}/health", timeout=1).ok:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    sys.exit(f"shop did not come up at {base} within {seconds:.0f}s")


def _described(request: tuple[int, str, str, dict[str, object] | None]) -> str:
    """``METHOD /path``, and the JSON body after a space where there is one."""
    _, method, path, body = request
    return f"{method} {path}" + (f" {json.dumps(body)}" if body else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", default="http://127.0.0.1:8700")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--only", metavar="REGEX", help="requests whose 'METHOD /path [JSON body]' matches"
    )
    parser.add_argument(
        "--header", action="append", default=[], metavar="'NAME: VALUE'",
        help="a header sent with every request (repeatable)",
    )  # fmt: skip
    parser.add_argument("--query", default="", help="a query string added to every request")
    args = parser.parse_args()
    mix = [m for m in MIX if not args.only or re.search(args.only, _described(m))]
    if not mix:
        sys.exit(f"no request matches --only {args.only!r}")
    extra_headers = {name.strip(): value.strip() for name, value in
                     (h.split(":", 1) for h in args.header)}  # fmt: skip
    query = f"?{args.query}" if args.query else ""
    wait_until_up(args.base, 30)
    rng = random.Random(args.seed)
    weights = [m[0] for m in mix]
    # Every kind of request once, then a weighted random mix.
    plan = mix + rng.choices(mix, weights, k=max(args.requests - len(mix), 0))
    statuses: dict[int, int] = {}
    for _, method, path, body in plan:
        payload = dict(body) if body else None
        key = payload.pop("idempotency_key", None) if payload else None
        headers = {**extra_headers, **({"Idempotency-Key": str(key)} if key else {})}
        response = requests.request(
            method, args.base + path + query, json=payload, headers=headers, timeout=5
        )
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
    summary = ", ".join(f"{count}x {status}" for status, count in sorted(statuses.items()))
    print(f"sent {len(plan)} requests: {summary}")


if __name__ == "__main__":
    main()
