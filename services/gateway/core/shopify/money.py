"""Money: Shopify sends decimal strings in the shop currency ("19.99", and numbers in refunds); the contract wants
integer minor units, so amounts are scaled by the currency's exponent (JPY 0, EUR 2, KWD 3; from CLDR via babel).
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from babel.numbers import get_currency_precision

from services.gateway.core.shopify.model import Unmappable
from services.gateway.core.shopify.values import _text


def minor_units(amount: Any, currency: str, path: str = "amount") -> int:
    """'19.99' EUR → 1999, '1500' JPY → 1500, '1.250' KWD → 1250 (half-up if Shopify ever sends finer)."""
    try:
        value = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    except InvalidOperation:
        raise Unmappable(path, f"{amount!r} is not an amount") from None
    if not value.is_finite():
        raise Unmappable(path, f"{amount!r} is not an amount")
    return int(value.scaleb(get_currency_precision(currency)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _money(obj: dict[str, Any], name: str, currency: str, path: str, *, default: Any = None) -> int:
    """The shop-currency amount of `name`, from `<name>_set.shop_money` where present (exact strings)."""
    shop_money = (obj.get(f"{name}_set") or {}).get("shop_money") or {}
    amount = shop_money.get("amount", obj.get(name, default))
    if amount is None:
        raise Unmappable(f"{path}{name}", "is required")
    return minor_units(amount, currency, f"{path}{name}")


def _currency(value: Any, path: str) -> str:
    code = (_text(value, 8) or "").upper()  # not cut to 3: "EURO" must fail, not become EUR
    if not re.fullmatch(r"[A-Z]{3}", code):
        raise Unmappable(path, f"{value!r} is not an ISO 4217 currency code")
    return code
