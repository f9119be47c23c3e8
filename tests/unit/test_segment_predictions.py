"""BG/NBD + Gamma-Gamma predictions: the formulas against the papers written out term by term and against
simulation, parameter recovery from data simulated with known parameters, and the edge cases callers meet."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import numpy as np
import pytest
from scipy.special import hyp2f1

from services.segments.domain.predictions import (
    BgNbd,
    CustomerHistory,
    GammaGamma,
    NotEnoughHistory,
    fit_bgnbd,
    fit_gamma_gamma,
    history_from_orders,
    predict,
    simulate,
    simulate_values,
)

pytestmark = pytest.mark.unit

NOW = datetime(2026, 3, 2, tzinfo=UTC)
#: The CDNOW fits: BG/NBD from Fader, Hardie & Lee (2005), α converted from weeks to days; Gamma-Gamma from
#: Fader & Hardie's note, v from dollars to cents.
CDNOW = BgNbd(r=0.243, alpha=4.414 * 7, a=0.793, b=2.426)
CDNOW_GG = GammaGamma(p=6.25, q=3.74, v=1544.0)


def history(times: list[float], now: float, values: list[int] | None = None) -> CustomerHistory:
    repeat = (values or [])[1:]
    mean = sum(repeat) / len(repeat) if repeat else 0.0
    return CustomerHistory(len(times) - 1, times[-1] - times[0], now - times[0], mean)


@pytest.fixture(scope="module")
def shop() -> list[CustomerHistory]:
    """8,000 customers acquired over a year, observed for 18 months (~3,500 with repeat orders)."""
    rng = np.random.default_rng(2005)
    times = simulate(CDNOW, 8_000, 547, rng, acquisition_days=365)
    values = simulate_values(CDNOW_GG, times, rng)
    return [history(t, 547, v) for t, v in zip(times, values, strict=True)]


def test_bgnbd_recovers_the_parameters_it_simulated_from(shop: list[CustomerHistory]) -> None:
    # Tolerances are ~4 standard deviations of each estimate over 40 simulated shops of this shape (SDs: r 0.0057,
    # α 1.16 d, a 0.070, b 0.30, a/(a+b) 0.0085). a and b are the least determined singly (their ratio, the mean
    # drop-out probability, much better), as in the paper; the fit here is deterministic (seeded).
    fit = fit_bgnbd(shop)
    assert fit.r == pytest.approx(CDNOW.r, abs=0.025)
    assert fit.alpha == pytest.approx(CDNOW.alpha, abs=5.0)
    assert fit.a == pytest.approx(CDNOW.a, abs=0.3)
    assert fit.b == pytest.approx(CDNOW.b, abs=1.2)
    assert fit.a / (fit.a + fit.b) == pytest.approx(CDNOW.a / (CDNOW.a + CDNOW.b), abs=0.035)
    # The maximum: the true parameters explain the data no better than the fit.
    assert sum(map(fit.log_likelihood, shop)) >= sum(map(CDNOW.log_likelihood, shop))


def test_gamma_gamma_recovers_the_parameters_of_simulated_spend(shop: list[CustomerHistory]) -> None:
    # ~4 SDs over 40 simulated shops (p 0.53, q 0.125, v 185, population mean 42 cents).
    fit = fit_gamma_gamma(shop)
    assert fit.p == pytest.approx(CDNOW_GG.p, abs=2.2)
    assert fit.q == pytest.approx(CDNOW_GG.q, abs=0.5)
    assert fit.v == pytest.approx(CDNOW_GG.v, abs=750)
    assert fit.population_mean_minor == pytest.approx(CDNOW_GG.population_mean_minor, abs=170)


def paper_likelihood(m: BgNbd, x: int, tx: float, age: float) -> float:
    """Eq. 6 of Fader, Hardie & Lee (2005) as printed, with plain gamma and beta functions."""
    beta = math.gamma(m.a) * math.gamma(m.b + x) / math.gamma(m.a + m.b + x)
    beta0 = math.gamma(m.a) * math.gamma(m.b) / math.gamma(m.a + m.b)
    head = beta / beta0 * math.gamma(m.r + x) * m.alpha**m.r / math.gamma(m.r)
    tail = 1 / (m.alpha + age) ** (m.r + x)
    if x > 0:
        tail += m.a / (m.b + x - 1) / (m.alpha + tx) ** (m.r + x)
    return head * tail


@pytest.mark.parametrize(("x", "tx", "age"), [(0, 0.0, 38.86), (2, 30.43, 38.86), (7, 11.0, 25.0), (1, 0.5, 60.0)])
def test_log_likelihood_is_the_papers_formula(x: int, tx: float, age: float) -> None:
    weeks = BgNbd(r=0.243, alpha=4.414, a=0.793, b=2.426)  # the paper's own units
    got = weeks.log_likelihood(CustomerHistory(x, tx, age, 0.0))
    assert got == pytest.approx(math.log(paper_likelihood(weeks, x, tx, age)), rel=1e-10)


def paper_expected_purchases(m: BgNbd, x: int, tx: float, age: float, t: float) -> float:
    """Eq. 10 as printed."""
    r, alpha, a, b = m.r, m.alpha, m.a, m.b
    hyp = hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + age + t))
    numerator = (a + b + x - 1) / (a - 1) * (1 - ((alpha + age) / (alpha + age + t)) ** (r + x) * hyp)
    return numerator / (1 + (x > 0) * a / (b + x - 1) * ((alpha + age) / (alpha + tx)) ** (r + x))


@pytest.mark.parametrize(("x", "tx", "age"), [(0, 0.0, 0.0), (0, 0.0, 200.0), (3, 100.0, 200.0), (30, 300.0, 310.0)])
def test_expected_purchases_is_the_papers_formula(x: int, tx: float, age: float) -> None:
    h = CustomerHistory(x, tx, age, 0.0)
    for t in (1.0, 30.0, 365.0, 730.0):
        assert CDNOW.expected_purchases(h, t) == pytest.approx(paper_expected_purchases(CDNOW, x, tx, age, t), rel=1e-9)


def test_expected_purchases_at_extreme_parameters() -> None:
    # Large a and b (a near-fixed drop-out probability, as small shops sometimes fit): the Euler form's
    # (1−z)^(a−1) underflows to 0 and its 2F1 overflows, so the printed form is used; the values converge.
    for h in (CustomerHistory(2, 100.0, 300.0, 0.0), CustomerHistory(40, 290.0, 300.0, 0.0)):
        fixed, nearly = (BgNbd(r=0.27, alpha=41.0, a=k, b=3 * k).expected_purchases(h, 180) for k in (1e5, 1e4))
        assert fixed == pytest.approx(nearly, rel=0.01)
    # Many orders: the Euler form is used, and agrees with the printed one while that one still computes.
    daily = CustomerHistory(2_000, 364.0, 365.0, 0.0)
    got = CDNOW.expected_purchases(daily, 30)
    assert got == pytest.approx(paper_expected_purchases(CDNOW, 2_000, 364.0, 365.0, 30), rel=1e-9)
    assert 0 < got < 30 * (CDNOW.r + 2_000) / (CDNOW.alpha + 365)  # at most the posterior mean rate, if alive
    # a = 1 is a removable singularity.
    h = CustomerHistory(3, 100.0, 200.0, 0.0)
    around = [BgNbd(0.243, 30.9, a, 2.4).expected_purchases(h, 365) for a in (1 - 1e-5, 1.0, 1 + 1e-5)]
    assert around[1] == pytest.approx(around[0], rel=1e-4) and around[1] == pytest.approx(around[2], rel=1e-4)


def test_expected_purchases_of_a_new_customer_match_simulation() -> None:
    # Just after the first order (x = 0, T = 0) the conditional expectation is the mean number of repeat orders.
    times = simulate(CDNOW, 40_000, 365, np.random.default_rng(7))
    repeats = np.array([len(t) - 1 for t in times])
    standard_error = repeats.std() / math.sqrt(len(repeats))
    expected = CDNOW.expected_purchases(CustomerHistory(0, 0.0, 0.0, 0.0), 365)
    assert abs(repeats.mean() - expected) < 4 * standard_error


def test_probability_alive() -> None:
    # Eq. 13: without a repeat order there was no chance to drop out (drop-out follows repeat purchases).
    for age in (0.0, 30.0, 700.0):
        assert CDNOW.probability_alive(CustomerHistory(0, 0.0, age, 0.0)) == 1.0
    # Just after a repeat order the customer may have dropped out with it; silence since makes it likelier.
    alive = [CDNOW.probability_alive(CustomerHistory(3, 100.0, age, 0.0)) for age in (100, 150, 250, 400, 800)]
    assert alive[0] == pytest.approx(1 / (1 + CDNOW.a / (CDNOW.b + 2)))
    assert all(later < earlier for earlier, later in pairwise(alive))
    # The same silence weighs more for a frequent buyer.
    assert CDNOW.probability_alive(CustomerHistory(20, 100.0, 200.0, 0.0)) < alive[1]


def test_expected_purchases_increase_with_the_horizon() -> None:
    for h in (CustomerHistory(0, 0.0, 50.0, 0.0), CustomerHistory(5, 300.0, 320.0, 0.0)):
        expected = [CDNOW.expected_purchases(h, t) for t in (0, 1, 7, 30, 90, 365, 730)]
        assert expected[0] == 0.0
        assert all(later > earlier for earlier, later in pairwise(expected))


def test_predict_for_an_active_and_a_long_gone_customer() -> None:
    active = CustomerHistory(10, 360.0, 365.0, 4_000.0)
    p = predict(CDNOW, CDNOW_GG, active, NOW)
    assert p.probability_active > 0.9 and p.expected_orders_12m > 5
    assert p.predicted_clv_12m_minor == round(p.expected_orders_12m * CDNOW_GG.expected_value(active))
    assert p.expected_next_order_at is not None and NOW < p.expected_next_order_at < NOW + timedelta(days=60)
    discounted = predict(CDNOW, CDNOW_GG, active, NOW, monthly_discount_rate=0.01)
    assert 0.9 * p.predicted_clv_12m_minor < discounted.predicted_clv_12m_minor < p.predicted_clv_12m_minor

    gone = predict(CDNOW, CDNOW_GG, CustomerHistory(4, 60.0, 700.0, 4_000.0), NOW)
    assert gone.probability_active < 0.05 and gone.expected_orders_12m < 0.1
    assert gone.expected_next_order_at is None


def test_expected_value_shrinks_towards_the_population_mean() -> None:
    population = CDNOW_GG.population_mean_minor
    assert CDNOW_GG.expected_value(CustomerHistory(0, 0.0, 10.0, 0.0)) == pytest.approx(population)
    one, many = (CDNOW_GG.expected_value(CustomerHistory(n, 10.0, 10.0, 20_000.0)) for n in (1, 50))
    assert population < one < many < 20_000


def test_too_few_customers_is_said_not_guessed() -> None:
    few = [CustomerHistory(2, 30.0, 90.0, 1_000.0)] * 10 + [CustomerHistory(0, 0.0, 90.0, 0.0)] * 500
    with pytest.raises(NotEnoughHistory):
        fit_bgnbd(few)
    with pytest.raises(NotEnoughHistory):
        fit_gamma_gamma(few)
    with pytest.raises(NotEnoughHistory):
        fit_bgnbd([])


def test_history_from_orders_counts_a_day_once() -> None:
    day = datetime(2026, 1, 1, 10, tzinfo=UTC)
    orders = [
        (day, 1_000),
        (day + timedelta(hours=8), 500),  # the same day: part of the first transaction
        (day + timedelta(days=10), 2_000),
        (day + timedelta(days=10, hours=1), 1_000),
        (day + timedelta(days=30), 4_000),
    ]
    h = history_from_orders([at for at, _ in orders], [v for _, v in orders], day + timedelta(days=40, hours=3))
    assert h == CustomerHistory(frequency=2, recency_days=30.0, age_days=40.0, mean_value_minor=3_500.0)
    assert history_from_orders([day], [900], day) == CustomerHistory(0, 0.0, 0.0, 0.0)
    with pytest.raises(ValueError):
        history_from_orders([day + timedelta(days=1)], [900], day)
    with pytest.raises(ValueError):
        CustomerHistory(1, 50.0, 40.0, 0.0)
