"""Segments' PostgreSQL adapter: orders, profiles with their memberships, segment definitions, RFM cuts.

Every statement is scoped by `merchant_id`; profile rows are read `FOR UPDATE` in one global order (merchant,
customer) so the consumer and the scheduled re-evaluation never deadlock on each other.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from services.common.envelope import Envelope
from services.segments.domain.membership import Segment
from services.segments.domain.profiles import OrderRow, Profile, from_doc, to_doc
from services.segments.domain.rfm import Buyer, RfmCuts

Key = tuple[str, str]  # (merchant_id, customer_id)


@dataclass
class StoredProfile:
    merchant_id: str
    profile: Profile
    #: segment id -> when the customer entered (ISO 8601).
    memberships: dict[str, str] = field(default_factory=dict)
    exists: bool = True


async def record_orders(conn: asyncpg.Connection, events: Sequence[Envelope]) -> dict[Key, list[OrderRow]]:
    """Placed orders are inserted once (a replay, or the same order under a new event id, changes nothing);
    cancellations and refunds update them. Returns the orders inserted now, by customer."""
    placed, cancelled, refunded = [], [], []
    for e in events:
        d = e.data
        if e.type == "order.placed":
            lines = d["lines"]
            placed.append(
                (e.merchant_id, d["order_id"], d["customer_id"], e.occurred_at, d["total_minor"], d["currency"],
                 d["channel"], _json(sorted({ln["product_id"] for ln in lines})),
                 _json(sorted({ln["category"] for ln in lines})), _json(d["discount_codes"]))
            )  # fmt: skip
        elif e.type == "order.cancelled":
            cancelled.append((e.merchant_id, d["order_id"]))
        elif e.type == "order.refunded":
            refunded.append((e.merchant_id, d["order_id"], max(0, d["amount_minor"])))
    inserted: dict[Key, list[OrderRow]] = {}
    if placed:
        columns = list(zip(*placed, strict=True))
        rows = await conn.fetch(
            "INSERT INTO orders (merchant_id, order_id, customer_id, placed_at, total_minor, currency, channel, "
            "products, categories, discount_codes) SELECT m, o, c, p, t, cur, ch, "
            "ARRAY(SELECT jsonb_array_elements_text(pr::jsonb)), ARRAY(SELECT jsonb_array_elements_text(ca::jsonb)), "
            "ARRAY(SELECT jsonb_array_elements_text(dc::jsonb)) FROM unnest($1::text[], $2::text[], $3::text[], "
            "$4::timestamptz[], $5::bigint[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[]) "
            "AS u(m, o, c, p, t, cur, ch, pr, ca, dc) ON CONFLICT (merchant_id, order_id) DO NOTHING "
            "RETURNING merchant_id, order_id, customer_id, placed_at, total_minor, refunded_minor, currency, channel, "
            "cancelled, products, categories, discount_codes",
            *[list(c) for c in columns],
        )
        for r in rows:
            inserted.setdefault((r["merchant_id"], r["customer_id"]), []).append(order_row(r))
    if cancelled:
        await conn.executemany("UPDATE orders SET cancelled = true WHERE merchant_id = $1 AND order_id = $2", cancelled)
    if refunded:
        await conn.executemany(
            "UPDATE orders SET refunded_minor = least(total_minor, refunded_minor + $3) "
            "WHERE merchant_id = $1 AND order_id = $2",
            refunded,
        )
    return inserted


async def load_profiles(
    conn: asyncpg.Connection, keys: Sequence[Key], *, lock: bool = True
) -> dict[Key, StoredProfile]:
    rows = await conn.fetch(
        "SELECT p.merchant_id, p.customer_id, p.doc, p.memberships FROM profiles p "
        "JOIN unnest($1::text[], $2::text[]) AS k(m, c) ON p.merchant_id = k.m AND p.customer_id = k.c "
        "ORDER BY p.merchant_id, p.customer_id" + (" FOR UPDATE OF p" if lock else ""),
        [k[0] for k in keys],
        [k[1] for k in keys],
    )
    found = {
        (r["merchant_id"], r["customer_id"]): StoredProfile(
            r["merchant_id"], from_doc(r["customer_id"], r["doc"]), dict(r["memberships"])
        )
        for r in rows
    }
    for merchant_id, customer_id in keys:
        found.setdefault((merchant_id, customer_id), StoredProfile(merchant_id, Profile(customer_id), {}, False))
    return found


async def load_orders(conn: asyncpg.Connection, keys: Sequence[Key]) -> dict[Key, list[OrderRow]]:
    rows = await conn.fetch(
        "SELECT o.* FROM orders o JOIN unnest($1::text[], $2::text[]) AS k(m, c) "
        "ON o.merchant_id = k.m AND o.customer_id = k.c",
        [k[0] for k in keys],
        [k[1] for k in keys],
    )
    out: dict[Key, list[OrderRow]] = {k: [] for k in keys}
    for r in rows:
        out[(r["merchant_id"], r["customer_id"])].append(order_row(r))
    return out


def _json(values: Sequence[str]) -> str:
    """Ragged lists go through `unnest` as JSON text (a text[][] must be rectangular)."""
    return orjson.dumps(list(values)).decode()


def order_row(r: asyncpg.Record) -> OrderRow:
    return OrderRow(
        r["order_id"], r["placed_at"], r["total_minor"], r["refunded_minor"], r["currency"], r["channel"],
        r["cancelled"], tuple(r["products"]), tuple(r["categories"]), tuple(r["discount_codes"]),
    )  # fmt: skip


def _row(s: StoredProfile, now: datetime) -> tuple[Any, ...]:
    p, o = s.profile, s.profile.orders
    return (s.merchant_id, p.customer_id, to_doc(p), s.memberships, o.order_count, o.revenue_minor, o.currency,
            o.first_order_at, o.last_order_at, p.city, p.postcode, p.country, o.acquisition_channel, p.lifecycle,
            p.rfm[3] if p.rfm else None, bool(p.consents.get("advertising")), p.erased, now)  # fmt: skip


async def save_profiles(conn: asyncpg.Connection, stored: Iterable[StoredProfile], now: datetime) -> None:
    rows = [_row(s, now) for s in stored]
    if not rows:
        return
    await conn.executemany(
        "INSERT INTO profiles (merchant_id, customer_id, doc, memberships, order_count, revenue_minor, currency, "
        "first_order_at, last_order_at, city, postcode, country, channel, lifecycle, rfm_group, advertising_consent, "
        "erased, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) "
        "ON CONFLICT (merchant_id, customer_id) DO UPDATE SET doc = $3, memberships = $4, order_count = $5, "
        "revenue_minor = $6, currency = $7, first_order_at = $8, last_order_at = $9, city = $10, postcode = $11, "
        "country = $12, channel = $13, lifecycle = $14, rfm_group = $15, advertising_consent = $16, erased = $17, "
        "updated_at = $18, revision = profiles.revision + 1",
        rows,
    )


async def profile_page(
    conn: asyncpg.Connection, merchant_id: str, after: str, limit: int
) -> list[tuple[StoredProfile, int]]:
    """The merchant's profiles in customer-id order after `after`, with their revision; read without locks (the
    scheduled walk would otherwise lock, and dirty, every row of a large shop)."""
    rows = await conn.fetch(
        "SELECT customer_id, doc, memberships, revision FROM profiles WHERE merchant_id = $1 AND customer_id > $2 "
        "ORDER BY customer_id LIMIT $3",
        merchant_id,
        after,
        limit,
    )
    return [
        (StoredProfile(merchant_id, from_doc(r["customer_id"], r["doc"]), dict(r["memberships"])), r["revision"])
        for r in rows
    ]


async def save_if_unchanged(
    conn: asyncpg.Connection, changed: list[tuple[StoredProfile, int]], now: datetime
) -> set[str]:
    """Write reassessed profiles unless a consumer saved them since they were read; returns the customers written.
    A skipped customer was just reassessed by the consumer with fresher facts, so nothing is lost."""
    if not changed:
        return set()
    rows = [_row(s, now) for s, _ in changed]
    written = await conn.fetch(
        "UPDATE profiles p SET doc = u.doc, memberships = u.memberships, lifecycle = u.lifecycle, "
        "rfm_group = u.rfm_group, erased = u.erased, updated_at = $7, revision = p.revision + 1 "
        "FROM unnest($1::text[], $2::jsonb[], $3::jsonb[], $4::text[], $5::text[], $6::bool[], $8::bigint[]) "
        "AS u(customer_id, doc, memberships, lifecycle, rfm_group, erased, revision) "
        "WHERE p.merchant_id = $9 AND p.customer_id = u.customer_id AND p.revision = u.revision "
        "RETURNING p.customer_id",
        [r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows], [r[13] for r in rows],
        [r[14] for r in rows], [r[16] for r in rows], now, [rev for _, rev in changed], changed[0][0].merchant_id,
    )  # fmt: skip
    return {r["customer_id"] for r in written}


class SegmentCache:
    """Parsed definitions by (merchant, segment, version): a batch reads ids and versions, parses only new ones."""

    def __init__(self) -> None:
        self._parsed: dict[tuple[str, str, int], Segment] = {}

    async def live(self, conn: asyncpg.Connection, merchant_ids: Iterable[str]) -> dict[str, list[Segment]]:
        rows = await conn.fetch(
            "SELECT merchant_id, segment_id, version, name, definition, actions FROM segments "
            "WHERE merchant_id = ANY($1::text[]) AND deleted_at IS NULL ORDER BY merchant_id, segment_id",
            sorted(set(merchant_ids)),
        )
        out: dict[str, list[Segment]] = {}
        for r in rows:
            key = (r["merchant_id"], r["segment_id"], r["version"])
            if key not in self._parsed:
                if len(self._parsed) > 10_000:
                    self._parsed.clear()
                self._parsed[key] = Segment.from_stored(
                    r["segment_id"], r["version"], r["name"], r["definition"], r["actions"]
                )
            out.setdefault(r["merchant_id"], []).append(self._parsed[key])
        return out


async def rfm_cuts(conn: asyncpg.Connection, merchant_ids: Iterable[str]) -> dict[str, RfmCuts]:
    rows = await conn.fetch(
        "SELECT merchant_id, cuts FROM rfm_cuts WHERE merchant_id = ANY($1::text[])", sorted(set(merchant_ids))
    )
    return {r["merchant_id"]: RfmCuts.from_doc(r["cuts"]) for r in rows}


async def refresh_rfm(conn: asyncpg.Connection, merchant_id: str, now: datetime) -> RfmCuts | None:
    """New quintile boundaries from all of the merchant's buyers (erased customers keep counting: anonymous)."""
    rows = await conn.fetch(
        "SELECT customer_id, last_order_at, order_count, revenue_minor FROM profiles "
        "WHERE merchant_id = $1 AND order_count > 0 AND last_order_at IS NOT NULL",
        merchant_id,
    )
    cuts = RfmCuts.of([Buyer(r[0], r[1], r[2], r[3]) for r in rows], now)
    if cuts is not None:
        await conn.execute(
            "INSERT INTO rfm_cuts (merchant_id, cuts, computed_at) VALUES ($1, $2, $3) "
            "ON CONFLICT (merchant_id) DO UPDATE SET cuts = $2, computed_at = $3",
            merchant_id,
            cuts.to_doc(),
            now,
        )
    return cuts


def as_dict(row: asyncpg.Record | None) -> dict[str, Any] | None:
    return dict(row) if row is not None else None
