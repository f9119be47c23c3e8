"""A per-merchant send rate: a token bucket per merchant, with `now` passed in (pure).

Why per merchant: one shop's campaign burst must neither trip the SMTP provider's limits for that sender domain
nor make every other shop's order mail wait behind it. A mail without a token is deferred, not dropped.
"""

from __future__ import annotations

from datetime import datetime, timedelta


class MerchantRate:
    def __init__(self, per_second: float, burst: int | None = None) -> None:
        self.per_second = per_second
        self.burst = float(burst if burst is not None else max(1, int(per_second)))
        self._tokens: dict[str, tuple[float, datetime]] = {}

    def take(self, merchant_id: str, now: datetime) -> datetime | None:
        """Spend a token and return None, or return when the next one is due (nothing spent)."""
        if self.per_second <= 0:
            return None
        tokens, at = self._tokens.get(merchant_id, (self.burst, now))
        tokens = min(self.burst, tokens + max(0.0, (now - at).total_seconds()) * self.per_second)
        if tokens >= 1:
            self._tokens[merchant_id] = (tokens - 1, now)
            return None
        self._tokens[merchant_id] = (tokens, now)
        return now + timedelta(seconds=(1 - tokens) / self.per_second)
