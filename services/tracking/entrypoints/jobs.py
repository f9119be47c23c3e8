"""Tracking's scheduled checks (kernel schedule): each parcel is looked at when a time-based problem could
start (its no-movement limit, the end of its promised day), so a restart or a quiet carrier misses none."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from services.common.envelope import Envelope
from services.common.schedule import DueJob, JobHandler
from services.tracking.adapters.store import load_board, save_board
from services.tracking.domain.engine import CHECK_JOB, check
from services.tracking.entrypoints.consumers import ShipmentConsumer


def job_handlers(consumer: ShipmentConsumer) -> dict[str, JobHandler]:
    async def check_shipments(conn: asyncpg.Connection, jobs: list[DueJob], now: datetime) -> Sequence[Envelope]:
        merchants = {j.merchant_id for j in jobs}
        await consumer.rules.load(conn, merchants)
        await consumer.transit.refresh(conn, merchants)
        board = await load_board(conn, {(j.merchant_id, j.payload["shipment_id"]) for j in jobs}, ())
        board.link_for = consumer.links.url_for if consumer.links else None
        for job in jobs:
            shipment = board.shipments.get((job.merchant_id, job.payload["shipment_id"]))
            if shipment is not None:  # erased or never stored: nothing to look at
                check(board, shipment, consumer.rules(job.merchant_id), consumer.transit(shipment), now)
        await save_board(conn, board)
        return board.emitted

    return {CHECK_JOB: check_shipments}
