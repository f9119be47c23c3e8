"""Tracking's consumer of erasure requests (GDPR Art. 17) from shop.customers, the one event it reads there."""

from __future__ import annotations

import asyncpg

from services.common.consumer import Subscription
from services.common.envelope import Envelope
from services.common.erasures import ERASURE, record_erasures
from services.tracking.adapters.privacy import erase_customer


async def handle_erasures(conn: asyncpg.Connection, events: list[Envelope]) -> list[Envelope]:
    for event in events:
        await erase_customer(conn, event.merchant_id, event.data["customer_id"])
    await record_erasures(conn, events)
    return []


def subscription() -> Subscription:
    return Subscription("tracking.erasures", ("shop.customers",), handle_erasures, frozenset({ERASURE}))
