"""Shopify values in the contract's form: ids, bounded texts, e-mail, locale, address and times."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from services.gateway.core.shopify.model import Context, Unmappable


def _id(value: Any) -> str | None:
    """Shopify ids are (big) integers or tokens: as strings, reduced to the contract's id alphabet."""
    if value is None or value == "":
        return None
    cleaned = re.sub(r"[^A-Za-z0-9._@+-]", "-", str(value)).lstrip("._@+-")[:128]
    return cleaned or None


def _text(value: Any, limit: int) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text[:limit] or None


def _email(value: Any) -> str | None:
    text = _text(value, 254)
    return text if text and re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", text) else None


def _locale(value: Any) -> str | None:
    """'de' → 'de', 'de-de' / 'de_DE' → 'de-DE', 'zh-Hant-TW' → 'zh' (scripts are not in the contract's form)."""
    parts = (_text(value, 35) or "").replace("_", "-").split("-")
    language = parts[0].lower()
    if not re.fullmatch(r"[a-z]{2,3}", language):
        return None
    region = parts[1].upper() if len(parts) == 2 else ""
    return f"{language}-{region}" if re.fullmatch(r"[A-Z]{2}", region) else language


def _address(raw: Any, *, street: bool = False) -> dict[str, str] | None:
    """city/postcode/country of a Shopify address, or None when one is missing or not in the contract's form."""
    if not isinstance(raw, dict):
        return None
    city, postcode = _text(raw.get("city"), 100), _text(raw.get("zip"), 16)
    country = (_text(raw.get("country_code"), 2) or "").upper()
    if not city or not postcode or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9 -]+", postcode):
        return None
    if not re.fullmatch(r"[A-Z]{2}", country):
        return None
    address = {"city": city, "postcode": postcode, "country": country}
    if street and _text(raw.get("address1"), 200):
        address = {"street": _text(raw.get("address1"), 200), **address}
    return address


def _time(obj: dict[str, Any], names: Iterable[str], ctx: Context) -> datetime:
    """The first of `names` present, else the delivery time; Shopify always sends an offset."""
    for name in names:
        raw = obj.get(name)
        if raw:
            try:
                parsed = datetime.fromisoformat(str(raw))
            except ValueError:
                raise Unmappable(name, f"{raw!r} is not an ISO 8601 time") from None
            if parsed.utcoffset() is None:
                raise Unmappable(name, f"{raw!r} has no timezone offset")
            return parsed
    return ctx.received_at


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
