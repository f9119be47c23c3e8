"""Tracking's PostgreSQL side: load a Board for a batch (rows locked), write it back set-based."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import fields
from datetime import date, datetime
from typing import Any

import asyncpg

from services.common.schedule import Job, cancel_jobs, schedule_jobs
from services.tracking.domain.delays import on_time
from services.tracking.domain.engine import CHECK_JOB, Board
from services.tracking.domain.model import OrderFacts, Shipment
from services.tracking.domain.promise import DeliveryRules, TransitTime

_DATES = {f.name for f in fields(Shipment) if f.name.endswith("_date") or f.name == "carrier_estimate"}
_TIMES = {f.name for f in fields(Shipment) if f.name.endswith("_at")}


_SHIPMENT_FIELDS = tuple(f.name for f in fields(Shipment))
_ORDER_FIELDS = tuple(f.name for f in fields(OrderFacts))


def shipment_state(s: Shipment) -> dict[str, Any]:
    # Not dataclasses.asdict: it deep-copies every value, which was 8% of a tracking worker's time.
    values = ((name, getattr(s, name)) for name in _SHIPMENT_FIELDS)
    return {k: v.isoformat() if isinstance(v, date | datetime) else v for k, v in values}


def shipment_from_state(state: dict[str, Any]) -> Shipment:
    values = dict(state)
    for name in _DATES:
        if values.get(name):
            values[name] = date.fromisoformat(values[name])
    for name in _TIMES:
        if values.get(name):
            values[name] = datetime.fromisoformat(values[name])
    return Shipment(**values)


def order_state(o: OrderFacts) -> dict[str, Any]:
    values = ((name, getattr(o, name)) for name in _ORDER_FIELDS)
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in values}


def order_from_state(state: dict[str, Any]) -> OrderFacts:
    values = dict(state)
    if values.get("delivered_at"):
        values["delivered_at"] = datetime.fromisoformat(values["delivered_at"])
    return OrderFacts(**values)


async def load_board(
    conn: asyncpg.Connection, shipments: Iterable[tuple[str, str]], orders: Iterable[tuple[str, str]]
) -> Board:
    """The orders a batch touches with all their parcels, plus the parcels it names, locked in key order."""
    board = Board()
    order_keys = sorted(set(orders))
    ship_keys = sorted(set(shipments))
    # Orders are touched from two topics (order.placed by customer, parcels by order), so two workers may meet
    # on one: the row is created empty first and locked, which serialises them instead of losing an update.
    await conn.execute(
        "INSERT INTO orders (merchant_id, order_id, state) SELECT m, o, '{}'::jsonb "
        "FROM unnest($1::text[], $2::text[]) AS k(m, o) ON CONFLICT DO NOTHING",
        [m for m, _ in order_keys],
        [o for _, o in order_keys],
    )
    order_rows = await conn.fetch(
        "SELECT o.state FROM orders o JOIN unnest($1::text[], $2::text[]) AS k(m, o) "
        "ON o.merchant_id = k.m AND o.order_id = k.o ORDER BY o.merchant_id, o.order_id FOR UPDATE OF o",
        [m for m, _ in order_keys],
        [o for _, o in order_keys],
    )
    for row in order_rows:
        if not row["state"]:
            continue  # the placeholder above: nothing known yet
        order = order_from_state(row["state"])
        board.orders[(order.merchant_id, order.order_id)] = order
    rows = await conn.fetch(
        "SELECT s.merchant_id, s.shipment_id, s.order_id, s.customer_id, s.carrier, s.tracking_number, "
        "s.promised_date, s.status, s.status_at, s.state FROM shipments s "
        "WHERE (s.merchant_id, s.shipment_id) IN (SELECT * FROM unnest($1::text[], $2::text[])) "
        "OR (s.merchant_id, s.order_id) IN (SELECT * FROM unnest($3::text[], $4::text[])) "
        "ORDER BY s.merchant_id, s.shipment_id FOR UPDATE OF s",
        [m for m, _ in ship_keys],
        [s for _, s in ship_keys],
        [m for m, _ in order_keys],
        [o for _, o in order_keys],
    )
    for row in rows:
        if row["state"]:
            s = shipment_from_state(row["state"])
        else:  # written before tracking kept its full state (migration 0002)
            s = Shipment(row["merchant_id"], row["shipment_id"], row["order_id"], row["carrier"])
            s.customer_id, s.tracking_number = row["customer_id"], row["tracking_number"]
            s.promised_date, s.status, s.status_at = row["promised_date"], row["status"], row["status_at"]
            s.announced = s.customer_id is not None
        board.shipments[(s.merchant_id, s.shipment_id)] = s
    return board


async def save_board(conn: asyncpg.Connection, board: Board) -> None:
    shipments = [board.shipments[k] for k in sorted(board.dirty)]
    if shipments:
        await conn.execute(
            "INSERT INTO shipments (merchant_id, shipment_id, order_id, customer_id, carrier, tracking_number, "
            "promised_date, status, status_at, state, direction, service_level, country, estimated_date, "
            "started_at, last_scan_at, delivered_at, on_time) "
            "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], "
            "$7::date[], $8::text[], $9::timestamptz[], $10::jsonb[], $11::text[], $12::text[], $13::text[], "
            "$14::date[], $15::timestamptz[], $16::timestamptz[], $17::timestamptz[], $18::boolean[]) "
            "ON CONFLICT (merchant_id, shipment_id) DO UPDATE SET order_id = EXCLUDED.order_id, "
            "customer_id = EXCLUDED.customer_id, carrier = EXCLUDED.carrier, "
            "tracking_number = EXCLUDED.tracking_number, "
            "promised_date = EXCLUDED.promised_date, status = EXCLUDED.status, status_at = EXCLUDED.status_at, "
            "state = EXCLUDED.state, direction = EXCLUDED.direction, service_level = EXCLUDED.service_level, "
            "country = EXCLUDED.country, estimated_date = EXCLUDED.estimated_date, started_at = EXCLUDED.started_at, "
            "last_scan_at = EXCLUDED.last_scan_at, delivered_at = EXCLUDED.delivered_at, on_time = EXCLUDED.on_time",
            [s.merchant_id for s in shipments],
            [s.shipment_id for s in shipments],
            [s.order_id for s in shipments],
            [s.customer_id for s in shipments],
            [s.carrier for s in shipments],
            [s.tracking_number for s in shipments],
            [s.promised_date for s in shipments],
            [s.status for s in shipments],
            [s.status_at for s in shipments],
            [shipment_state(s) for s in shipments],
            [s.direction for s in shipments],
            [s.service_level for s in shipments],
            [s.country for s in shipments],
            [s.estimated_date for s in shipments],
            [s.started_at for s in shipments],
            [s.last_scan_at for s in shipments],
            [s.delivered_at for s in shipments],
            [on_time(s) for s in shipments],
        )
    orders = [board.orders[k] for k in sorted(board.dirty_orders)]
    if orders:
        await conn.execute(
            "INSERT INTO orders (merchant_id, order_id, state, delivered_at) "
            "SELECT * FROM unnest($1::text[], $2::text[], $3::jsonb[], $4::timestamptz[]) "
            "ON CONFLICT (merchant_id, order_id) DO UPDATE SET state = EXCLUDED.state, "
            "delivered_at = EXCLUDED.delivered_at",
            [o.merchant_id for o in orders],
            [o.order_id for o in orders],
            [order_state(o) for o in orders],
            [o.delivered_at for o in orders],
        )
    if board.problem_log:
        rows = board.problem_log
        await conn.execute(
            "INSERT INTO problem_log (merchant_id, shipment_id, carrier, problem, reason, raised, at) "
            "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::boolean[], "
            "$7::timestamptz[])",
            *[list(column) for column in zip(*rows, strict=True)],
        )
    due = [
        Job(f"check:{m}:{s}", CHECK_JOB, m, at, {"shipment_id": s})
        for (m, s), at in sorted(board.checks.items())
        if at is not None
    ]
    await schedule_jobs(conn, due, replace=True)
    await cancel_jobs(conn, [f"check:{m}:{s}" for (m, s), at in sorted(board.checks.items()) if at is None])


async def insert_scans(conn: asyncpg.Connection, rows: list[tuple[Any, ...]]) -> None:
    """The timeline: every scan, including those that changed nothing (duplicates by natural key once)."""
    if rows:
        await conn.execute(
            "INSERT INTO scans (merchant_id, shipment_id, event_id, status, raw_status_code, location, scanned_at) "
            "SELECT * FROM unnest($1::text[], $2::text[], $3::uuid[], $4::text[], $5::text[], $6::jsonb[], "
            "$7::timestamptz[]) ON CONFLICT DO NOTHING",
            *[list(column) for column in zip(*rows, strict=True)],
        )


class RulesCache:
    """Merchant delivery rules, read once per batch for the merchants in it."""

    def __init__(self) -> None:
        self.rules: dict[str, DeliveryRules] = {}

    async def load(self, conn: asyncpg.Connection, merchants: Iterable[str]) -> None:
        self.rules = {m: DEFAULT_RULES for m in merchants}
        rows = await conn.fetch(
            "SELECT merchant_id, config FROM delivery_rules WHERE merchant_id = ANY($1::text[])", list(self.rules)
        )
        for row in rows:
            self.rules[row["merchant_id"]] = DeliveryRules.model_validate(row["config"])

    def __call__(self, merchant_id: str) -> DeliveryRules:
        return self.rules.get(merchant_id, DEFAULT_RULES)


DEFAULT_RULES = DeliveryRules()


class TransitTimes:
    """Learned transit times per merchant, carrier and destination country, refreshed every few minutes.

    Lanes drift slowly; recomputing percentiles over months of parcels for every batch would cost more than
    everything else tracking does. The process-wide cache is refreshed per merchant when older than `ttl_s`.
    """

    def __init__(self, ttl_s: float = 300.0, window_days: int = 180) -> None:
        self.ttl_s = ttl_s
        self.window_days = window_days
        self.lanes: dict[tuple[str, str, str | None], TransitTime] = {}
        self.loaded_at: dict[str, float] = {}

    async def refresh(self, conn: asyncpg.Connection, merchants: Iterable[str], *, force: bool = False) -> None:
        stale = [m for m in set(merchants) if force or time.monotonic() - self.loaded_at.get(m, -1e9) > self.ttl_s]
        if not stale:
            return
        rows = await conn.fetch(
            "SELECT merchant_id, carrier, country, count(*) AS parcels, "
            "percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM delivered_at - started_at) / 3600) AS p50, "
            "percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM delivered_at - started_at) / 3600) AS p90 "
            "FROM shipments WHERE merchant_id = ANY($1::text[]) AND direction = 'outbound' "
            "AND delivered_at IS NOT NULL AND started_at IS NOT NULL AND delivered_at >= started_at "
            "AND delivered_at > now() - make_interval(days => $2) GROUP BY merchant_id, carrier, country",
            stale,
            self.window_days,
        )
        for merchant in stale:
            for key in [k for k in self.lanes if k[0] == merchant]:
                del self.lanes[key]
            self.loaded_at[merchant] = time.monotonic()
        for r in rows:
            self.lanes[(r["merchant_id"], r["carrier"], r["country"])] = TransitTime(
                float(r["p50"]), float(r["p90"]), r["parcels"]
            )

    def __call__(self, s: Shipment) -> TransitTime | None:
        return self.lanes.get((s.merchant_id, s.carrier, s.country))
