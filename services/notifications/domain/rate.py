"""A per-merchant send rate: the kernel's token buckets keyed by merchant.

Why per merchant: one shop's campaign burst must neither trip the SMTP provider's limits for that sender domain
nor make every other shop's order mail wait behind it. A mail without a token is deferred, not dropped.
"""

from __future__ import annotations

from services.common.rate import TokenBuckets as MerchantRate

__all__ = ["MerchantRate"]
