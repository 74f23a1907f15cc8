"""A small shop API that fails in realistic ways, for the README's demo and the e2e tests.

Run it under the launcher (no collector needed: errors go to ./otel-errors-data)::

    OTEL_SERVICE_NAME=shop OTEL_ERRORS_CATALOG=examples/shop/errors.toml \
        opentelemetry-instrument python examples/shop/app.py

Failures it produces: unknown products and stock-outs (application codes), card
declines, a slow and an unreachable payment provider (translated to PAY-* codes),
a recommender that is down (handled, with a fallback), and two genuine bugs.
Every failure is answered by otel_errors' FastAPI integration as an RFC 9457
``application/problem+json`` response carrying the code and the trace id.
"""

from __future__ import annotations

import os

import requests
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel, Field

import otel_errors
from otel_errors import AppError


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
PRODUCTS = {
    1: {"name": "kettle", "price": 25.0, "stock": 100},
    2: {"name": "teapot", "price": 40.0, "stock": 0},
    3: {"name": "mug", "price": 8.5, "stock": 1000},
}
ORDERS: dict[int, dict[str, object]] = {
    1: {"total": 50.0, "items": 2},
    2: {"total": 0.0, "items": 0},
    3: {"items": 1},
}

app = FastAPI(title="shop")


class OrderIn(BaseModel):
    """An order request."""

    product_id: int
    quantity: int = Field(ge=1, le=10)
    card: str


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/products/{product_id}")
def product(product_id: int) -> dict[str, object]:
    found = PRODUCTS.get(product_id)
    if found is None:
        raise ProductNotFound(f"product {product_id} does not exist", product_id=product_id)
    return {"id": product_id, **found}


@app.post("/orders")
def place_order(order: OrderIn) -> dict[str, object]:
    item = product(order.product_id)
    if int(item["stock"]) < order.quantity:  # type: ignore[call-overload]
        raise OutOfStock(product_id=order.product_id, requested=order.quantity)
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
        raise CardDeclined(card_last4=card[-4:])
    response.raise_for_status()
    return str(response.json()["payment_id"])


@app.get("/recommendations/{user_id}")
@otel_errors.handle(ConnectionError, requests.ConnectionError, fallback={"items": []})
def recommendations(user_id: int) -> dict[str, object]:
    """Best effort: when the recommender is down, an empty list (recorded as handled)."""
    response = requests.get(f"{RECOMMENDER_URL}/users/{user_id}", timeout=0.5)
    return {"items": response.json()}


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
