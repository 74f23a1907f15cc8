"""A small shop API that fails in realistic ways, for the README's demo and the e2e tests.

Run it under the launcher (no collector needed: errors go to the directory it prints at start-up)::

    OTEL_SERVICE_NAME=shop OTEL_ERRORS_CATALOG=examples/shop/errors.toml \
        opentelemetry-instrument python examples/shop/app.py

Dependencies, each optional: PostgreSQL (``SHOP_DATABASE_URL``: products and orders),
Redis (``SHOP_REDIS_URL``: a product cache and a recently-viewed list) and an HTTP
payment provider (``SHOP_PAYMENTS_URL``, see payments.py). A dependency that is not
configured or not reachable at start-up is replaced by an in-memory stand-in, with a
message saying so; its failure modes then do not occur.

Failures it produces: unknown products and stock-outs (application codes), a
repeated order key (PostgreSQL unique violation, DB-1002), a blocking Redis read
past its timeout (CACHE-002) and a Redis type error (CACHE-011), card declines, a
slow and an unreachable payment provider (translated to PAY-* codes), a recommender
that is down (handled, with a fallback), and two genuine bugs. Every failure is
answered by otel_errors' FastAPI integration as an RFC 9457
``application/problem+json`` response carrying the code and the trace id.
"""

from __future__ import annotations

import logging
import os
from typing import Annotated, Any

import requests
import uvicorn
from fastapi import FastAPI, Header
from pydantic import BaseModel, Field

import otel_errors
from otel_errors import AppError

logger = logging.getLogger("shop")


class ProductNotFound(AppError, code="SHOP-001"):
    """No such product."""


class OutOfStock(AppError, code="SHOP-002"):
    """Not enough stock for the order."""


class PaymentUnavailable(AppError, code="PAY-001"):
    """The payment provider cannot be reached."""


class CardDeclined(AppError, code="PAY-002"):
    """The provider declined the card."""


class PaymentTooSlow(AppError, code="PAY-003"):
    """The provider did not answer in time."""


PAYMENTS_URL = os.environ.get("SHOP_PAYMENTS_URL", "http://127.0.0.1:8701")
RECOMMENDER_URL = os.environ.get("SHOP_RECOMMENDER_URL", "http://127.0.0.1:8799")
SEED = {
    1: ("kettle", 25.0, 100),
    2: ("teapot", 40.0, 0),
    3: ("mug", 8.5, 1000),
}
ORDERS: dict[int, dict[str, object]] = {
    1: {"total": 50.0, "items": 2},
    2: {"total": 0.0, "items": 0},
    3: {"items": 1},
}


class MemoryStore:
    """Products and order keys in memory: the stand-in when PostgreSQL is absent."""

    name = "memory"

    def __init__(self) -> None:
        self.products = {
            pid: {"name": n, "price": p, "stock": s} for pid, (n, p, s) in SEED.items()
        }
        self.order_keys: set[str] = set()

    def product(self, product_id: int) -> dict[str, Any] | None:
        return self.products.get(product_id)

    def record_order(self, key: str, product_id: int, quantity: int) -> None:
        self.order_keys.add(key)


class PostgresStore:
    """Products and orders in PostgreSQL; a repeated order key violates a unique index."""

    name = "postgresql"

    def __init__(self, dsn: str) -> None:
        import psycopg

        self.connection = psycopg.connect(dsn, autocommit=True, connect_timeout=2)
        self.connection.execute(
            "CREATE TABLE IF NOT EXISTS shop_products (id int PRIMARY KEY, name text NOT NULL,"
            " price numeric NOT NULL, stock int NOT NULL)"
        )
        self.connection.execute(
            "CREATE TABLE IF NOT EXISTS shop_orders (key text PRIMARY KEY,"
            " product_id int NOT NULL, quantity int NOT NULL)"
        )
        for pid, (name, price, stock) in SEED.items():
            self.connection.execute(
                "INSERT INTO shop_products VALUES (%s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
                (pid, name, price, stock),
            )

    def product(self, product_id: int) -> dict[str, Any] | None:
        row = self.connection.execute(
            "SELECT name, price, stock FROM shop_products WHERE id = %s", (product_id,)
        ).fetchone()
        if row is None:
            return None
        return {"name": row[0], "price": float(row[1]), "stock": row[2]}

    def record_order(self, key: str, product_id: int, quantity: int) -> None:
        self.connection.execute(
            "INSERT INTO shop_orders (key, product_id, quantity) VALUES (%s, %s, %s)",
            (key, product_id, quantity),
        )


class MemoryCache:
    """The stand-in when Redis is absent: nothing is cached, nothing fails."""

    name = "memory"

    def get(self, key: str) -> str | None:
        return None

    def set(self, key: str, value: str) -> None:
        return None

    def recently_viewed(self, user_id: int) -> list[str]:
        return []

    def count_view(self, product_id: int) -> int:
        return 0


class RedisCache:
    """A product cache and per-user lists in Redis, with a short socket timeout."""

    name = "redis"

    def __init__(self, url: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url, socket_timeout=0.3, socket_connect_timeout=1)
        self.client.ping()
        self.client.delete("shop:stats")
        self.client.hset("shop:stats", mapping={"views": 0})

    def get(self, key: str) -> str | None:
        value = self.client.get(key)
        return value.decode() if value is not None else None

    def set(self, key: str, value: str) -> None:
        self.client.set(key, value, ex=30)

    def recently_viewed(self, user_id: int) -> list[str]:
        # Blocks server-side for 1 s on an empty list: longer than the socket timeout.
        item = self.client.blpop([f"shop:viewed:{user_id}"], timeout=1)
        return [item[1].decode()] if item else []

    def count_view(self, product_id: int) -> int:
        # A bug: "shop:stats" is a hash, so INCR fails with WRONGTYPE.
        return int(self.client.incr("shop:stats"))


def _connect(what: str, variable: str, factory: Any, fallback: Any) -> Any:
    url = os.environ.get(variable)
    if not url:
        print(f"shop: {variable} is not set; {what} runs in memory")
        return fallback()
    try:
        return factory(url)
    except Exception as exc:
        print(f"shop: {what} at {variable} is not reachable ({type(exc).__name__}); in memory")
        return fallback()


STORE = _connect("the product store", "SHOP_DATABASE_URL", PostgresStore, MemoryStore)
CACHE = _connect("the cache", "SHOP_REDIS_URL", RedisCache, MemoryCache)

app = FastAPI(title="shop")


class OrderIn(BaseModel):
    """An order request."""

    product_id: int
    quantity: int = Field(ge=1, le=10)
    card: str


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok", "store": STORE.name, "cache": CACHE.name}


@app.get("/products/{product_id}")
def product(product_id: int) -> dict[str, object]:
    found = STORE.product(product_id)
    if found is None:
        raise ProductNotFound(f"product {product_id} does not exist", product_id=product_id)
    CACHE.set(f"shop:product:{product_id}", found["name"])
    return {"id": product_id, **found}


@app.post("/orders")
def place_order(
    order: OrderIn, idempotency_key: Annotated[str | None, Header()] = None
) -> dict[str, object]:
    item = product(order.product_id)
    if int(item["stock"]) < order.quantity:  # type: ignore[call-overload]
        raise OutOfStock(product_id=order.product_id, requested=order.quantity)
    if idempotency_key:
        # A repeated key is a unique violation in PostgreSQL (DB-1002, answered 409).
        STORE.record_order(idempotency_key, order.product_id, order.quantity)
    amount = float(item["price"]) * order.quantity  # type: ignore[arg-type]
    return {"status": "paid", "amount": amount, "payment": charge(order.card, amount)}


def charge(card: str, amount: float) -> str:
    """Calls the payment provider; its failures become the shop's PAY-* codes."""
    try:
        response = requests.post(
            f"{PAYMENTS_URL}/charge", json={"card": card, "amount": amount}, timeout=0.5
        )
    except requests.Timeout as exc:
        raise PaymentTooSlow from exc
    except requests.ConnectionError as exc:
        raise PaymentUnavailable from exc
    if response.status_code == 402:
        # Careless on purpose, as real code often is: the full card number goes into the
        # log line and the exception message. Redaction keeps it out of all telemetry.
        logger.warning("card %s declined for an order of %.2f", card, amount)
        raise CardDeclined(f"provider declined card {card}", card_last4=card[-4:])
    response.raise_for_status()
    return str(response.json()["payment_id"])


@app.get("/recommendations/{user_id}")
@otel_errors.handle(ConnectionError, requests.ConnectionError, fallback={"items": []})
def recommendations(user_id: int) -> dict[str, object]:
    """Best effort: when the recommender is down, an empty list (recorded as handled)."""
    response = requests.get(f"{RECOMMENDER_URL}/users/{user_id}", timeout=0.5)
    return {"items": response.json()}


@app.get("/users/{user_id}/recently-viewed")
def recently_viewed(user_id: int) -> dict[str, object]:
    """Reads a Redis list with a blocking call that outlasts the socket timeout."""
    return {"items": CACHE.recently_viewed(user_id)}


@app.post("/products/{product_id}/views")
def count_view(product_id: int) -> dict[str, int]:
    """Has a bug with Redis: the counter key holds a hash (WRONGTYPE)."""
    return {"views": CACHE.count_view(product_id)}


@app.get("/orders/{order_id}/average")
def average_item_price(order_id: int) -> dict[str, float]:
    """Has two bugs: orders without items divide by zero, old orders lack a total."""
    order = ORDERS[order_id]
    return {"average": float(order["total"]) / int(order["items"])}  # type: ignore[arg-type]


def main() -> None:
    """Serves on 127.0.0.1 (port from SHOP_PORT, default 8700)."""
    uvicorn.run(
        app, host="127.0.0.1", port=int(os.environ.get("SHOP_PORT", "8700")), log_level="warning"
    )


if __name__ == "__main__":
    main()
