"""The customer tracking page: one small, branded, bilingual HTML page per order (Jinja2, autoescaped)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from jinja2 import Environment, FileSystemLoader, select_autoescape

from services.tracking.domain.branding import Branding

BERLIN = ZoneInfo("Europe/Berlin")
LOCALES = {"de": "de_DE", "en": "en_GB"}
CARRIER_NAMES = {"dhl": "DHL", "dpd": "DPD", "gls": "GLS", "hermes": "Hermes", "ups": "UPS", "other": ""}

STATUS = {
    "de": {
        None: "Versand wird vorbereitet",
        "label_created": "Versandlabel erstellt",
        "in_transit": "Unterwegs",
        "out_for_delivery": "In Zustellung",
        "delivered": "Zugestellt",
        "failed_attempt": "Zustellversuch nicht erfolgreich",
        "exception": "Problem bei der Zustellung",
        "returned_to_sender": "Zurück an den Absender",
        "lost": "Nicht auffindbar",
        "unknown": "Neue Nachricht des Paketdienstes",
    },
    "en": {
        None: "Getting ready to ship",
        "label_created": "Label created",
        "in_transit": "On its way",
        "out_for_delivery": "Out for delivery",
        "delivered": "Delivered",
        "failed_attempt": "Delivery attempt failed",
        "exception": "Delivery problem",
        "returned_to_sender": "Returned to sender",
        "lost": "Cannot be found",
        "unknown": "Update from the carrier",
    },
}

TEXTS: dict[str, dict[str, str]] = {
    "de": {
        "title": "Sendungsverfolgung",
        "order": "Bestellung",
        "parcel": "Paket {n} von {total}",
        "expected": "Voraussichtliche Zustellung",
        "promised": "Zugesagt bis",
        "delivered_on": "Zugestellt am",
        "timeline": "Verlauf",
        "tracking_number": "Sendungsnummer",
        "carrier_link": "Beim Paketdienst ansehen",
        "all_delivered": "Alle Pakete dieser Bestellung sind angekommen.",
        "questions": "Fragen? Schreib uns an {email}.",
        "questions_Sie": "Fragen? Schreiben Sie uns an {email}.",
        "sorry": "Es tut uns leid: Dein Paket kommt später als zugesagt.",
        "sorry_Sie": "Es tut uns leid: Ihr Paket kommt später als zugesagt.",
        "sorry_new_date": "Neue voraussichtliche Zustellung: {date}.",
        "problem": "Der Paketdienst meldet ein Problem. Wir kümmern uns darum.",
        "stuck": "Das Paket wurde seit einiger Zeit nicht mehr gescannt. Wir haben beim Paketdienst nachgefragt.",
        "switch": "English",
        "not_found": "Diese Seite gibt es nicht.",
        "expired": "Dieser Link ist abgelaufen. Bitte wende dich an den Shop.",
    },
    "en": {
        "title": "Order tracking",
        "order": "Order",
        "parcel": "Parcel {n} of {total}",
        "expected": "Expected delivery",
        "promised": "Promised by",
        "delivered_on": "Delivered on",
        "timeline": "History",
        "tracking_number": "Tracking number",
        "carrier_link": "View at the carrier",
        "all_delivered": "Every parcel of this order has arrived.",
        "questions": "Questions? Write to {email}.",
        "sorry": "We are sorry: your parcel is later than promised.",
        "sorry_new_date": "New expected delivery: {date}.",
        "problem": "The carrier reports a problem. We are looking after it.",
        "stuck": "The parcel has not been scanned for a while. We have asked the carrier.",
        "switch": "Deutsch",
        "not_found": "This page does not exist.",
        "expired": "This link has expired. Please contact the shop.",
    },
}

_env = Environment(
    loader=FileSystemLoader(Path(__file__).resolve().parents[1] / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def text(lang: str, key: str, branding: Branding, **values: Any) -> str:
    """The wording in the page's language, in the merchant's German form of address."""
    texts = TEXTS[lang]
    formal = lang == "de" and branding.form_of_address == "Sie"
    template = texts.get(f"{key}_Sie", texts[key]) if formal else texts[key]
    return template.format(**values)


def _day(value: date | str | None, lang: str) -> str | None:
    if value is None:
        return None
    day = date.fromisoformat(value) if isinstance(value, str) else value
    return format_date(day, "full", locale=LOCALES[lang])


def _moment(value: datetime | None, lang: str) -> str:
    assert value is not None
    return format_datetime(value.astimezone(BERLIN), "d. MMM y, HH:mm" if lang == "de" else "d MMM y, HH:mm",
                           locale=LOCALES[lang])  # fmt: skip


def render_tracking_page(view: dict[str, Any], branding: Branding, merchant_id: str, lang: str, token: str) -> str:
    """`view` is what the order tracking API returns; outbound parcels only (returns are the shop's business)."""
    parcels = [p for p in view["shipments"] if p["direction"] == "outbound"]
    shown = []
    for n, p in enumerate(parcels, start=1):
        problems = {x["problem"] for x in p["problems"]}
        shown.append(
            {
                "heading": text(lang, "parcel", branding, n=n, total=len(parcels)) if len(parcels) > 1 else None,
                "status": STATUS[lang].get(p["status"], STATUS[lang]["unknown"]),
                "state": p["status"] or "pending",
                "carrier": CARRIER_NAMES.get(p["carrier"] or "other", ""),
                "tracking_number": p["tracking_number"],
                "carrier_url": p["tracking_url"],
                "expected": _day(p["estimated_delivery_date"], lang) if p["status"] != "delivered" else None,
                "promised": _day(p["promised_delivery_date"], lang),
                "delivered": _moment(p["delivered_at"], lang) if p["delivered_at"] else None,
                "late": "delayed" in problems,
                "problem": "exception" in problems,
                "stuck": "stuck" in problems,
                "timeline": [
                    {
                        "when": _moment(scan["scanned_at"], lang),
                        "what": STATUS[lang].get(scan["status"], STATUS[lang]["unknown"]),
                        "where": (scan["location"] or {}).get("city"),
                    }
                    for scan in reversed(p["timeline"])
                ],
            }
        )
    late = next((p for p in shown if p["late"]), None)
    other = "en" if lang == "de" else "de"
    return _env.get_template("tracking_page.html").render(
        lang=lang,
        other_lang=other,
        token=token,
        shop=branding.shop_name or merchant_id,
        logo_url=branding.logo_url,
        colour=branding.colour,
        t=lambda key, **values: text(lang, key, branding, **values),
        order_number=view.get("order_number") or view["order_id"],
        all_delivered=view["delivered"],
        parcels=shown,
        sorry=late is not None,
        sorry_date=late["expected"] if late else None,
        support_email=branding.support_email,
    )


def render_message_page(lang: str, key: str, branding: Branding | None = None) -> str:
    b = branding or Branding()
    return _env.get_template("tracking_message.html").render(
        lang=lang, colour=b.colour, title=TEXTS[lang]["title"], message=text(lang, key, b)
    )
