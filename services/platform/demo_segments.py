"""The demo merchant's starter segments, so `make run` shows memberships, explanations and KPIs at once."""

from __future__ import annotations

from typing import Any

import httpx

DEMO_SEGMENTS: list[dict[str, Any]] = [
    {
        "segment_id": "stammkunden",
        "name": "Stammkunden (3+ Bestellungen)",
        "definition": {"op": "compare", "property": "order_count", "cmp": ">=", "value": 3},
        "actions": {"trigger": "vip_promotion", "award_points": 300},
    },
    {
        "segment_id": "kaffee-aktiv",
        "name": "Kaffee, zuletzt in 30 Tagen",
        "definition": {"op": "bought", "category": "coffee", "within_days": 30},
    },
    {
        "segment_id": "tee-ohne-kaffee",
        "name": "Teetrinker ohne Kaffee",
        "definition": {
            "op": "and",
            "of": [{"op": "bought", "category": "tea"}, {"op": "not", "of": {"op": "bought", "category": "coffee"}}],
        },
    },
    {
        "segment_id": "abwanderung",
        "name": "Abwanderungsgefahr",
        "definition": {"op": "compare", "property": "lifecycle", "cmp": "in", "value": ["at_risk", "lapsed"]},
    },
    {
        "segment_id": "zufrieden-werbung",
        "name": "Zufrieden, Werbung erlaubt",
        "definition": {
            "op": "and",
            "of": [
                {"op": "compare", "property": "average_rating", "cmp": ">=", "value": 4},
                {"op": "consent", "purpose": "advertising"},
            ],
        },
    },
]


async def ensure_demo_segments(segments_url: str, merchant_id: str) -> int:
    """Create the starter segments that do not exist yet (a second `make run` keeps the merchant's own edits)."""
    created = 0
    async with httpx.AsyncClient(base_url=segments_url, timeout=10) as client:
        for segment in DEMO_SEGMENTS:
            response = await client.post(f"/internal/v1/merchants/{merchant_id}/segments", json=segment)
            if response.status_code == 201:
                created += 1
            elif response.status_code != 409:
                response.raise_for_status()
    return created
