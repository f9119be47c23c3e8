"""Per-customer predictions: the probability of still being a customer, the expected orders and spend in the next
12 months (CLV), and the expected date of the next order, from a BG/NBD and a Gamma-Gamma model. Pure.

Why these models: they need nothing but each customer's order dates and values (no features, no labels), fit in
well under a second for tens of thousands of customers, are the standard for non-contractual settings (a shop
never learns that a customer has left), and their predictions are closed-form expectations that can be checked.
The `lifetimes` library implemented both but is unmaintained, so this is a small implementation on SciPy:

- BG/NBD: P. S. Fader, B. G. S. Hardie & K. L. Lee (2005), "'Counting Your Customers' the Easy Way: An
  Alternative to the Pareto/NBD Model", Marketing Science 24(2). While active, a customer buys as a Poisson
  process with rate λ ~ Gamma(r, α); after each repeat purchase they drop out for good with probability
  p ~ Beta(a, b). Likelihood: eq. 6; P(alive): eq. 13; conditional expected purchases: eq. 10.
- Gamma-Gamma: P. S. Fader & B. G. S. Hardie (2013), "The Gamma-Gamma Model of Monetary Value" (note), after
  Fader, Hardie & Lee (2005), "RFM and CLV: Using Iso-Value Curves", JMR 42(4). Order values are Gamma(p, ν)
  with ν ~ Gamma(q, v) per customer, independent of the purchase process.

Conventions (those of the literature and of `lifetimes`): time is in days; orders on the same calendar day are
one transaction (their values summed); `frequency` counts repeat transactions (all but the first), `recency` is
the time from the first to the last transaction, `age` (the papers' T) the time from the first to now; the
monetary value is the mean of the repeat transactions only (the first is often atypical: a welcome discount).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
from scipy.optimize import brentq, minimize
from scipy.special import betaln, expit, gammaln, hyp2f1

YEAR_DAYS = 365.0
#: The next order date is searched this far ahead; beyond it there is none.
NEXT_ORDER_HORIZON_DAYS = 730.0
#: A fit needs at least this many customers with a repeat order; below it, `NotEnoughHistory`.
MIN_REPEATERS = 20


class NotEnoughHistory(ValueError):
    """Too few customers (with repeat orders) for a fit that means anything: report that, not a number."""


@dataclass(frozen=True)
class CustomerHistory:
    """What both models see of a customer (see the module docstring for the conventions)."""

    frequency: int  # repeat transactions: distinct order days − 1
    recency_days: float  # first to last transaction
    age_days: float  # first transaction to now (T)
    mean_value_minor: float  # mean value of the repeat transactions; 0 when frequency is 0

    def __post_init__(self) -> None:
        if self.frequency < 0 or not 0 <= self.recency_days <= self.age_days:
            raise ValueError(f"inconsistent history {self}")
        if self.frequency == 0 and self.recency_days:
            raise ValueError("a customer without repeat orders has recency 0")


def history_from_orders(order_times: list[datetime], order_values_minor: list[int], now: datetime) -> CustomerHistory:
    """One customer's history from their orders. Orders on the same calendar day (in the timezone of the given
    datetimes: pass them all in the shop's zone or all in UTC) count as one transaction, as in the papers; the
    days between transactions and to `now` are whole days."""
    if not order_times or len(order_times) != len(order_values_minor):
        raise ValueError("one value per order, and at least one order")
    per_day: dict[date, int] = {}
    for at, value in zip(order_times, order_values_minor, strict=True):
        if at > now:
            raise ValueError(f"an order at {at} is after now ({now})")
        per_day[at.date()] = per_day.get(at.date(), 0) + value
    days = sorted(per_day)
    repeat = [per_day[d] for d in days[1:]]
    return CustomerHistory(
        frequency=len(repeat),
        recency_days=float((days[-1] - days[0]).days),
        age_days=float((now.date() - days[0]).days),
        mean_value_minor=sum(repeat) / len(repeat) if repeat else 0.0,
    )


def _arrays(histories: Sequence[CustomerHistory]) -> tuple[np.ndarray, ...]:
    x = np.array([h.frequency for h in histories], dtype=float)
    tx = np.array([h.recency_days for h in histories], dtype=float)
    age = np.array([h.age_days for h in histories], dtype=float)
    value = np.array([h.mean_value_minor for h in histories], dtype=float)
    return x, tx, age, value


def _maximise(neg_mean_ll, dims: int, penalizer: float, n: int) -> np.ndarray:
    """Maximum (penalised) likelihood over log-parameters θ, so every parameter stays positive. The penalty
    `penalizer`·|θ|² is on the total log-likelihood (a Gaussian prior on θ, so it fades as customers grow)."""

    def objective(theta: np.ndarray) -> float:
        value = neg_mean_ll(np.exp(theta)) + penalizer * float(theta @ theta) / n
        return value if np.isfinite(value) else 1e300

    result = minimize(objective, np.zeros(dims), method="L-BFGS-B", bounds=[(-20.0, 20.0)] * dims)
    if not np.all(np.isfinite(result.x)) or not np.isfinite(result.fun) or result.fun >= 1e299:
        raise NotEnoughHistory(f"the fit did not converge: {result.message}")
    return np.exp(result.x)


def _bgnbd_ll(r: float, alpha: float, a: float, b: float, x, tx, age) -> np.ndarray:
    """Log of eq. 6, per customer: A1 + A2 + log(exp(A3) + δ(x>0)·exp(A4)), the sum by log-sum-exp."""
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = betaln(a, b + x) - betaln(a, b)
    a3 = -(r + x) * np.log(alpha + age)
    a4 = np.log(a) - np.log(b + np.maximum(x - 1, 0)) - (r + x) * np.log(alpha + tx)
    return a1 + a2 + np.logaddexp(a3, np.where(x > 0, a4, -np.inf))


@dataclass(frozen=True)
class BgNbd:
    """Purchase rate λ ~ Gamma(shape r, rate α) with α in days; drop-out probability p ~ Beta(a, b)."""

    r: float
    alpha: float
    a: float
    b: float

    def log_likelihood(self, h: CustomerHistory) -> float:
        return float(_bgnbd_ll(self.r, self.alpha, self.a, self.b, h.frequency, h.recency_days, h.age_days))

    def probability_alive(self, h: CustomerHistory) -> float:
        """Eq. 13. Exactly 1 without repeat orders: in the BG/NBD a customer can only drop out right after a
        repeat purchase (a known quirk next to the Pareto/NBD; such customers still get few expected orders)."""
        if h.frequency == 0:
            return 1.0
        r, alpha, a, b, x = self.r, self.alpha, self.a, self.b, h.frequency
        log_odds_dead = np.log(a / (b + x - 1)) + (r + x) * np.log((alpha + h.age_days) / (alpha + h.recency_days))
        return float(expit(-log_odds_dead))

    def expected_purchases(self, h: CustomerHistory, t_days: float) -> float:
        """Eq. 10: expected transactions in the next `t_days`. Its denominator is 1 / P(alive). Its term
        ((α+T)/(α+T+t))^(r+x)·2F1(r+x, b+x; a+b+x−1; z), z = t/(α+T+t), a tiny power times a huge 2F1 for large x,
        equals (1−z)^(a−1)·2F1(a+b−1−r, a−1; a+b+x−1; z) by Euler's transformation, the same trouble for large a:
        the form with the smaller power is used."""
        if t_days <= 0:
            return 0.0
        r, alpha, a, b, x = self.r, self.alpha, self.a, self.b, h.frequency
        a = a if abs(a - 1) > 1e-7 else 1 + 1e-7  # a = 1 is a removable 0/0; next to it the error is ~1e-7
        z = t_days / (alpha + h.age_days + t_days)
        if a - 1 <= r + x:
            hyp = (1 - z) ** (a - 1) * hyp2f1(a + b - 1 - r, a - 1, a + b + x - 1, z)
        else:
            hyp = (1 - z) ** (r + x) * hyp2f1(r + x, b + x, a + b + x - 1, z)
        return float((a + b + x - 1) / (a - 1) * (1 - hyp) * self.probability_alive(h))


def fit_bgnbd(
    histories: Sequence[CustomerHistory], *, penalizer: float = 0.0, min_repeaters: int = MIN_REPEATERS
) -> BgNbd:
    """Maximum likelihood of eq. 6 over all customers (those without repeat orders are information too).

    Time is rescaled by the mean age for the optimiser (α is scale-equivariant, r, a, b are unit-free) and
    returned in days. `penalizer` adds an L2 penalty on the log-parameters of that rescaled problem, pulling
    them towards 1 (α towards the mean age); 0 is plain maximum likelihood, ~1-10 steadies a shop with a few
    dozen repeat buyers (whose a and b are otherwise poorly determined) and hardly moves one with thousands.
    """
    x, tx, age, _ = _arrays(histories)
    if int((x > 0).sum()) < min_repeaters:
        raise NotEnoughHistory(f"{int((x > 0).sum())} customers with a repeat order; at least {min_repeaters}")
    scale = float(age.mean()) or 1.0
    r, alpha, a, b = _maximise(lambda p: -float(_bgnbd_ll(*p, x, tx / scale, age / scale).mean()), 4, penalizer, len(x))
    return BgNbd(float(r), float(alpha * scale), float(a), float(b))


def _gg_ll(p: float, q: float, v: float, x, m) -> np.ndarray:
    """Log density of a customer's mean repeat value m over x transactions (Fader & Hardie 2013): the mean of x
    Gamma(p, ν) values is Gamma(px, νx); ν ~ Gamma(q, v) integrated out."""
    return (
        gammaln(p * x + q)
        - gammaln(p * x)
        - gammaln(q)
        + q * np.log(v)
        + (p * x - 1) * np.log(m)
        + p * x * np.log(x)
        - (p * x + q) * np.log(v + x * m)
    )


@dataclass(frozen=True)
class GammaGamma:
    """Transaction value ~ Gamma(shape p, rate ν), ν ~ Gamma(shape q, rate v) per customer, v in minor units."""

    p: float
    q: float
    v: float

    @property
    def population_mean_minor(self) -> float:
        return self.p * self.v / (self.q - 1)

    def expected_value(self, h: CustomerHistory) -> float:
        """E[value | x, m] = (p(v + x·m)) / (px + q − 1): a weighted mean of the population mean and the customer's
        own, the customer's weighing more with more transactions. A customer without repeats: population mean."""
        x = h.frequency
        return (self.p * (self.v + x * h.mean_value_minor)) / (self.p * x + self.q - 1)


def fit_gamma_gamma(
    histories: Sequence[CustomerHistory], *, penalizer: float = 0.0, min_repeaters: int = MIN_REPEATERS
) -> GammaGamma:
    """Maximum likelihood over the customers with repeat orders (only they have a repeat-value mean; one of 0, all
    repeat orders free, is left out: the Gamma has no mass there). `penalizer` as for `fit_bgnbd`. Values are
    rescaled by their mean for the optimiser (p, q are unit-free, v scale-equivariant). Refused when the fit has
    q ≤ 1: the spend distribution would have no mean."""
    x, _, _, m = _arrays(histories)
    keep = (x > 0) & (m > 0)
    if int(keep.sum()) < min_repeaters:
        raise NotEnoughHistory(f"{int(keep.sum())} customers with a repeat order; at least {min_repeaters}")
    x, m = x[keep], m[keep]
    scale = float(m.mean())
    p, q, v = _maximise(lambda par: -float(_gg_ll(*par, x, m / scale).mean()), 3, penalizer, len(x))
    if q <= 1:
        raise NotEnoughHistory(f"order values too dispersed for a mean (q = {q:.3f} ≤ 1)")
    return GammaGamma(float(p), float(q), float(v * scale))


@dataclass(frozen=True)
class Prediction:
    probability_active: float
    expected_orders_12m: float
    predicted_clv_12m_minor: int
    expected_next_order_at: datetime | None


def predict(
    model_bg: BgNbd, model_gg: GammaGamma, h: CustomerHistory, now: datetime, *, monthly_discount_rate: float = 0.0
) -> Prediction:
    """`h` as of `now`. The next order is expected when the expected number of orders from now reaches 1 (not the
    mean waiting time, which may be infinite for someone likely gone); None if not within 2 years.

    CLV: expected transactions in 365 days × expected transaction value. With `monthly_discount_rate` d > 0,
    each month's expected transactions are discounted by (1 + d)^m at the month's end m = 1..12 (as `lifetimes`
    does); the default 0 is the undiscounted expected 12-month spend.
    """
    orders = model_bg.expected_purchases(h, YEAR_DAYS)
    if monthly_discount_rate:
        cumulative = [model_bg.expected_purchases(h, YEAR_DAYS * m / 12) for m in range(13)]
        discounted = sum((cumulative[m] - cumulative[m - 1]) / (1 + monthly_discount_rate) ** m for m in range(1, 13))
    else:
        discounted = orders
    return Prediction(
        probability_active=model_bg.probability_alive(h),
        expected_orders_12m=orders,
        predicted_clv_12m_minor=round(discounted * model_gg.expected_value(h)),
        expected_next_order_at=_next_order_at(model_bg, h, now),
    )


def _next_order_at(model: BgNbd, h: CustomerHistory, now: datetime) -> datetime | None:
    def gap(t: float) -> float:
        return model.expected_purchases(h, t) - 1.0

    if gap(NEXT_ORDER_HORIZON_DAYS) < 0:
        return None
    return now + timedelta(days=brentq(gap, 0.0, NEXT_ORDER_HORIZON_DAYS, xtol=0.01))


def simulate(
    params: BgNbd, n_customers: int, days: float, rng: np.random.Generator, *, acquisition_days: float = 0.0
) -> list[list[float]]:
    """Purchase times (days, ascending) per customer from the BG/NBD process, observed up to `days`: a first
    purchase at a time uniform in [0, acquisition_days), then exponential gaps with the customer's rate λ, and
    after each repeat purchase a drop-out with the customer's probability p."""
    rates = rng.gamma(params.r, 1 / params.alpha, n_customers)
    dropout = rng.beta(params.a, params.b, n_customers)
    first = rng.uniform(0, acquisition_days, n_customers) if acquisition_days else np.zeros(n_customers)
    out = []
    for rate, p, t in zip(rates, dropout, first, strict=True):
        times = [float(t)]
        while rate > 0:
            t += rng.standard_exponential() / rate
            if t > days:
                break
            times.append(float(t))
            if rng.random() < p:
                break
        out.append(times)
    return out


def simulate_values(params: GammaGamma, purchases: list[list[float]], rng: np.random.Generator) -> list[list[int]]:
    """An order value in minor units (at least 1) for each simulated purchase, by the Gamma-Gamma process."""
    nu = rng.gamma(params.q, 1 / params.v, len(purchases))
    return [
        [max(1, round(float(z))) for z in rng.gamma(params.p, 1 / n, len(times))]
        for n, times in zip(nu, purchases, strict=True)
    ]
