"""Read side of tracking's HTTP API: an order's parcels with their timelines, delivery performance, rules."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from services.tracking.adapters.store import DEFAULT_RULES, shipment_from_state
from services.tracking.domain.branding import Branding
from services.tracking.domain.promise import DeliveryRules


async def order_tracking(pool: asyncpg.Pool, merchant_id: str, order_id: str) -> dict[str, Any] | None:
    rows = await pool.fetch(
        "SELECT shipment_id, state FROM shipments WHERE merchant_id = $1 AND order_id = $2 "
        "ORDER BY direction DESC, created_at, shipment_id",
        merchant_id,
        order_id,
    )
    if not rows:
        return None
    scans = await pool.fetch(
        "SELECT shipment_id, status, raw_status_code, location, scanned_at FROM scans "
        "WHERE merchant_id = $1 AND shipment_id = ANY($2::text[]) ORDER BY scanned_at, event_id",
        merchant_id,
        [r["shipment_id"] for r in rows],
    )
    order = await pool.fetchrow(
        "SELECT delivered_at, state->>'order_number' AS order_number FROM orders "
        "WHERE merchant_id = $1 AND order_id = $2",
        merchant_id,
        order_id,
    )
    delivered_at = order["delivered_at"] if order else None
    parcels = []
    for row in rows:
        s = shipment_from_state(row["state"]) if row["state"] else None
        timeline = [
            {k: v for k, v in dict(scan).items() if k != "shipment_id"}
            for scan in scans
            if scan["shipment_id"] == row["shipment_id"]
        ]
        parcels.append(
            {
                "shipment_id": row["shipment_id"],
                "direction": s.direction if s else "outbound",
                "carrier": s.carrier if s else None,
                "tracking_number": s.tracking_number if s else None,
                "tracking_url": s.tracking_url if s else None,
                "service_level": s.service_level if s else None,
                "status": s.status if s else None,
                "status_at": s.status_at if s else None,
                "exception_reason": s.exception_reason if s else None,
                "promised_delivery_date": s.promised_date if s else None,
                "promise_source": s.promise_source if s else None,
                "estimated_delivery_date": s.estimated_date if s else None,
                "delivered_at": s.delivered_at if s else None,
                "problems": [{"problem": p, "reason": r} for p, r in sorted(s.problems.items())] if s else [],
                "timeline": timeline,
            }
        )
    outbound = [p for p in parcels if p["direction"] == "outbound"]
    return {
        "order_id": order_id,
        "order_number": order["order_number"] if order else None,
        "delivered": delivered_at is not None,
        "delivered_at": delivered_at,
        "parcels_delivered": sum(p["status"] == "delivered" for p in outbound),
        "parcels": len(outbound),
        "shipments": parcels,
    }


async def performance(pool: asyncpg.Pool, merchant_id: str, since: datetime, until: datetime) -> dict[str, Any]:
    """On-time rate and transit-time percentiles of parcels delivered in the window, problems raised in it."""
    carriers = await pool.fetch(
        """
        SELECT carrier, count(*) AS delivered,
               count(*) FILTER (WHERE on_time) AS on_time,
               count(*) FILTER (WHERE on_time IS NOT NULL) AS with_promise,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM delivered_at - started_at) / 3600) AS p50,
               percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM delivered_at - started_at) / 3600) AS p90
        FROM shipments
        WHERE merchant_id = $1 AND direction = 'outbound' AND delivered_at >= $2 AND delivered_at < $3
        GROUP BY carrier ORDER BY carrier
        """,
        merchant_id,
        since,
        until,
    )
    problems = await pool.fetch(
        "SELECT carrier, problem, reason, count(*) AS n FROM problem_log "
        "WHERE merchant_id = $1 AND raised AND at >= $2 AND at < $3 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
        merchant_id,
        since,
        until,
    )
    by_carrier = []
    for c in carriers:
        by_carrier.append(
            {
                "carrier": c["carrier"],
                "delivered": c["delivered"],
                "on_time_rate": round(c["on_time"] / c["with_promise"], 4) if c["with_promise"] else None,
                "transit_hours_p50": round(c["p50"], 1) if c["p50"] is not None else None,
                "transit_hours_p90": round(c["p90"], 1) if c["p90"] is not None else None,
                "problems": [
                    {"problem": p["problem"], "reason": p["reason"], "count": p["n"]}
                    for p in problems
                    if p["carrier"] == c["carrier"]
                ],
            }
        )
    delivered = sum(c["delivered"] for c in carriers)
    with_promise = sum(c["with_promise"] for c in carriers)
    return {
        "since": since,
        "until": until,
        "delivered": delivered,
        "on_time_rate": round(sum(c["on_time"] for c in carriers) / with_promise, 4) if with_promise else None,
        "problems": [
            {"carrier": p["carrier"], "problem": p["problem"], "reason": p["reason"], "count": p["n"]} for p in problems
        ],
        "carriers": by_carrier,
    }


async def rules_of(pool: asyncpg.Pool, merchant_id: str) -> tuple[int, DeliveryRules]:
    row = await pool.fetchrow("SELECT version, config FROM delivery_rules WHERE merchant_id = $1", merchant_id)
    if row is None:
        return 0, DEFAULT_RULES
    return row["version"], DeliveryRules.model_validate(row["config"])


async def save_rules(pool: asyncpg.Pool, merchant_id: str, rules: DeliveryRules) -> int:
    return await pool.fetchval(
        "INSERT INTO delivery_rules (merchant_id, config, version) VALUES ($1, $2, 1) "
        "ON CONFLICT (merchant_id) DO UPDATE SET config = EXCLUDED.config, "
        "version = delivery_rules.version + 1, updated_at = now() RETURNING version",
        merchant_id,
        rules.model_dump(mode="json"),
    )


async def branding_of(pool: asyncpg.Pool, merchant_id: str) -> Branding:
    config = await pool.fetchval("SELECT config FROM branding WHERE merchant_id = $1", merchant_id)
    return Branding.model_validate(config) if config else Branding()


async def save_branding(pool: asyncpg.Pool, merchant_id: str, branding: Branding) -> None:
    await pool.execute(
        "INSERT INTO branding (merchant_id, config) VALUES ($1, $2) "
        "ON CONFLICT (merchant_id) DO UPDATE SET config = EXCLUDED.config, updated_at = now()",
        merchant_id,
        branding.model_dump(mode="json"),
    )
