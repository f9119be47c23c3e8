"""RFM: recency, frequency and monetary scores (1-5, quintiles among the merchant's buyers) and the named groups
merchants know from the classic RFM chart. Pure.

Scores are relative: a customer's frequency score says which fifth of this shop's buyers they are in, so the
groups mean the same in a shop of 300 buyers and one of 300,000. Ties share a score (the share of buyers
strictly below decides), so two customers with the same numbers are always in the same group.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Buyer:
    customer_id: str
    last_order_at: datetime
    order_count: int
    revenue_minor: int


@dataclass(frozen=True)
class Rfm:
    recency: int
    frequency: int
    monetary: int
    group: str


def scores(buyers: list[Buyer], now: datetime) -> dict[str, Rfm]:
    """Every buyer's scores and group, from all of the merchant's buyers (customers with at least one order)."""
    if not buyers:
        return {}
    days = sorted((now - b.last_order_at).days for b in buyers)
    counts = sorted(b.order_count for b in buyers)
    revenue = sorted(b.revenue_minor for b in buyers)
    out = {}
    for b in buyers:
        r = 6 - _quintile(days, (now - b.last_order_at).days)  # recent is good: fewest days scores 5
        f, m = _quintile(counts, b.order_count), _quintile(revenue, b.revenue_minor)
        out[b.customer_id] = Rfm(r, f, m, group(r, f, m))
    return out


def group(r: int, f: int, m: int) -> str:
    """The classic chart on recency and the mean of frequency and monetary."""
    fm = (f + m + 1) // 2  # rounded half up
    if (r >= 4 and fm == 5) or (r == 5 and fm >= 4):
        return "champions"
    if r >= 3 and fm >= 3:
        return "loyal"
    if r >= 4:
        return "potential_loyalists"
    if r <= 2 and fm == 5:
        return "cant_lose"
    if r <= 2 and fm >= 3:
        return "at_risk"
    if r == 1:
        return "lost"
    return "hibernating"


def _quintile(ordered: list[int], value: int) -> int:
    """1-5 by the share of values strictly below this one."""
    return 1 + min(4, 5 * bisect_left(ordered, value) // len(ordered))


@dataclass(frozen=True)
class RfmCuts:
    """The merchant's quintile boundaries, so one customer is scored without all buyers at hand (incremental path).

    With n buyers sorted, a value scores above k (k = 1..4) exactly when more than ceil(k·n/5) − 1 values lie
    below it, i.e. when it exceeds the value at that rank: the four values at those ranks are the cuts. Scoring
    against the cuts equals `scores` for the population they were taken from (a property test checks it); between
    refreshes, customers are scored against the last refresh's population.
    """

    computed_at: datetime
    days: tuple[int, ...]
    counts: tuple[int, ...]
    revenue: tuple[int, ...]
    buyers: int

    @classmethod
    def of(cls, buyers: list[Buyer], now: datetime) -> RfmCuts | None:
        if not buyers:
            return None
        n = len(buyers)
        ranks = [-(-k * n // 5) - 1 for k in range(1, 5)]  # ceil(k n / 5) - 1; -1 means "any value is above"

        def cuts(values: list[int]) -> tuple[int, ...]:
            ordered = sorted(values)
            return tuple(ordered[r] if r >= 0 else -(2**62) for r in ranks)

        return cls(
            now,
            cuts([(now - b.last_order_at).days for b in buyers]),
            cuts([b.order_count for b in buyers]),
            cuts([b.revenue_minor for b in buyers]),
            n,
        )

    def score(self, last_order_at: datetime, order_count: int, revenue_minor: int, now: datetime) -> Rfm:
        r = 6 - _above(self.days, (now - last_order_at).days)
        f, m = _above(self.counts, order_count), _above(self.revenue, revenue_minor)
        return Rfm(r, f, m, group(r, f, m))

    def to_doc(self) -> dict[str, object]:
        return {"computed_at": self.computed_at.isoformat(), "days": self.days, "counts": self.counts,
                "revenue": self.revenue, "buyers": self.buyers}  # fmt: skip

    @classmethod
    def from_doc(cls, doc: dict) -> RfmCuts:
        return cls(datetime.fromisoformat(doc["computed_at"]), tuple(doc["days"]), tuple(doc["counts"]),
                   tuple(doc["revenue"]), doc["buyers"])  # fmt: skip


def _above(cuts: tuple[int, ...], value: int) -> int:
    return 1 + sum(1 for cut in cuts if value > cut)


def groups_count(rfm: Mapping[str, Rfm]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in rfm.values():
        counts[value.group] = counts.get(value.group, 0) + 1
    return counts
