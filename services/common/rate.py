"""Token buckets by key (an API key, a client address, a merchant), with `now` passed in: pure and in memory.

Used by the gateway (per-key and per-address request limits) and notifications (per-merchant send rate).
Limits are per process: N gateway processes allow N times the rate, which is the usual trade for not putting a
shared store in every request's path.
"""

from __future__ import annotations

from datetime import datetime, timedelta

#: More keys than this and the idle ones (full again anyway) are forgotten, so addresses cannot grow memory.
MAX_KEYS = 100_000


class TokenBuckets:
    def __init__(self, per_second: float, burst: int | None = None) -> None:
        self.per_second = per_second
        self.burst = float(burst if burst is not None else max(1, int(per_second)))
        self._tokens: dict[str, tuple[float, datetime]] = {}

    def take(self, key: str, now: datetime) -> datetime | None:
        """Spend a token and return None, or return when the next one is due (nothing spent)."""
        if self.per_second <= 0:
            return None
        if len(self._tokens) >= MAX_KEYS and key not in self._tokens:
            self._forget_idle(now)
        tokens, at = self._tokens.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + max(0.0, (now - at).total_seconds()) * self.per_second)
        if tokens >= 1:
            self._tokens[key] = (tokens - 1, now)
            return None
        self._tokens[key] = (tokens, now)
        return now + timedelta(seconds=(1 - tokens) / self.per_second)

    def _forget_idle(self, now: datetime) -> None:
        refill = timedelta(seconds=self.burst / self.per_second)
        self._tokens = {k: v for k, v in self._tokens.items() if now - v[1] < refill}
