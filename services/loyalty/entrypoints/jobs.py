"""Loyalty's scheduled jobs (kernel schedule): confirm pending points, expiry warning and expiry, tier
review at the period's end, birthday points, tenure vouchers. Each runs the rules with the job's `now`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from services.common.envelope import Envelope
from services.common.schedule import DueJob, JobHandler
from services.loyalty.domain.book import Book
from services.loyalty.domain.engine import JOB_KINDS, Engine
from services.loyalty.entrypoints.consumers import apply_with_book


async def run_jobs(conn: asyncpg.Connection, jobs: list[DueJob], now: datetime) -> Sequence[Envelope]:
    customers = {(j.merchant_id, j.payload["customer_id"]) for j in jobs}
    # A first confirmed order may pay the referrer too: lock their account with the others, in order.
    referrers = await conn.fetch(
        "SELECT merchant_id, state->>'referred_by' AS referrer FROM accounts a "
        "JOIN unnest($1::text[], $2::text[]) AS k(m, c) ON a.merchant_id = k.m AND a.customer_id = k.c "
        "WHERE state->>'referred_by' IS NOT NULL",
        [m for m, _ in customers],
        [c for _, c in customers],
    )
    customers |= {(r["merchant_id"], r["referrer"]) for r in referrers}
    orders = {(j.merchant_id, j.payload["order_id"]) for j in jobs if "order_id" in j.payload}

    def rules(engine: Engine, book: Book) -> None:
        for job in jobs:
            engine.run_job(book, job.kind, job.merchant_id, job.payload, now)

    book = await apply_with_book(conn, customers, orders, {j.merchant_id for j in jobs}, rules)
    return book.emitted


def job_handlers() -> dict[str, JobHandler]:
    return dict.fromkeys(JOB_KINDS, run_jobs)
