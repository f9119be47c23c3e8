"""What the Shopify mappers take and give: the delivery's context, contract events, and why nothing was mapped."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


class Unmappable(ValueError):
    """A verified payload that cannot become a contract event; `path` names the Shopify field."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


@dataclass(frozen=True)
class OrderLink:
    """What order webhooks tell about an order, for the refund and fulfillment webhooks that lack it."""

    order_id: str
    customer_id: str
    currency: str | None = None


@dataclass(frozen=True)
class Context:
    received_at: datetime
    default_locale: str = "de"
    order: OrderLink | None = None


@dataclass(frozen=True)
class Mapped:
    type: str
    data: dict[str, Any]
    occurred_at: datetime


@dataclass(frozen=True)
class Outcome:
    events: tuple[Mapped, ...] = ()
    #: Why nothing is published (the webhook is still acknowledged and recorded).
    ignored: str | None = None
    #: The order whose customer must be known first (refunds and fulfillments carry no customer).
    waits_for_order: str | None = None
    #: Learned from an order webhook: the order's customer and currency.
    link: OrderLink | None = None
