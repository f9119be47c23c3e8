""" "Why did my points change?" — each ledger entry as a sentence in German or English. Pure."""

from __future__ import annotations

from typing import Any

#: Entries that only move points between buckets inside the ledger; the customer sees the confirmation.
HIDDEN_KINDS = frozenset({"pending_release"})

_REASONS: dict[str, tuple[str, str]] = {
    "purchase": (
        "{points} Punkte für Ihre Bestellung {order} vorgemerkt – sie werden nach der Zustellung und dem Ende der "
        "Rückgabefrist gutgeschrieben.",
        "{points} points reserved for your order {order} – available once it has been delivered and the return "
        "period is over.",
    ),
    "purchase_confirmed": (
        "{points} Punkte für Ihre Bestellung {order} gutgeschrieben.",
        "{points} points for your order {order} are now available.",
    ),
    "order_cancelled": (
        "Bestellung {order} storniert: {abs_points} Punkte entfallen.",
        "Order {order} was cancelled: {abs_points} points withdrawn.",
    ),
    "order_returned": (
        "Rücksendung zu Bestellung {order}: {abs_points} Punkte für die zurückgesandten Artikel zurückgebucht.",
        "Return for order {order}: {abs_points} points for the returned items taken back.",
    ),
    "order_refunded": (
        "Erstattung zu Bestellung {order}: {abs_points} Punkte für die erstatteten Artikel zurückgebucht.",
        "Refund for order {order}: {abs_points} points for the refunded items taken back.",
    ),
    "shortfall_settled": (
        "{abs_points} Punkte mit einer offenen Rückbuchung verrechnet.",
        "{abs_points} points set against an earlier return your balance could not cover.",
    ),
    "signup": ("{points} Willkommenspunkte für Ihre Anmeldung.", "{points} welcome points for signing up."),
    "first_order": ("{points} Bonuspunkte für Ihre erste Bestellung.", "{points} bonus points for your first order."),
    "review": ("{points} Punkte als Dank für Ihre Bewertung.", "{points} points – thank you for your review."),
    "review_photo": (
        "{points} Punkte als Dank für Ihre Bewertung mit Foto.",
        "{points} points – thank you for your review with a photo.",
    ),
    "birthday": ("{points} Geburtstagspunkte – alles Gute!", "{points} birthday points – happy birthday!"),
    "referral_referrer": (
        "{points} Punkte, weil Sie uns weiterempfohlen haben.",
        "{points} points for recommending us to a friend.",
    ),
    "referral_referee": (
        "{points} Punkte für Ihre erste Bestellung auf Empfehlung.",
        "{points} points for your first order on a friend's recommendation.",
    ),
    "goodwill": (
        "{points} Punkte als Entschuldigung für die verspätete Lieferung.",
        "{points} points as an apology for the late delivery.",
    ),
    "tenure": (
        "{points} Treuepunkte – danke, dass Sie bei uns sind.",
        "{points} loyalty points – thank you for staying.",
    ),
    "reward": ("{abs_points} Punkte für eine Prämie eingelöst.", "{abs_points} points redeemed for a reward."),
    "points_payment": (
        "{abs_points} Punkte als Zahlungsmittel eingesetzt.",
        "{abs_points} points used as payment.",
    ),
    "lot_expired": (
        "{abs_points} Punkte sind verfallen, weil sie vor längerer Zeit gesammelt wurden.",
        "{abs_points} points expired: they were earned a long time ago.",
    ),
    "inactivity": (
        "{abs_points} Punkte sind nach längerer Inaktivität verfallen.",
        "{abs_points} points expired after a long time without activity.",
    ),
}
_FALLBACK = ("{signed} Punkte ({reason}).", "{signed} points ({reason}).")


def describe(entry: dict[str, Any], language: str) -> str:
    de, en = _REASONS.get(entry["reason_code"], _FALLBACK)
    template = de if language.startswith("de") else en
    points = int(entry["points"])
    text = template.format(
        points=points,
        abs_points=abs(points) + int(entry.get("shortfall") or 0),
        signed=f"{points:+d}",
        order=entry.get("order_id") or "",
        reason=entry["reason_code"],
    )
    if entry.get("shortfall"):
        text += (
            f" {entry['shortfall']} davon werden mit künftigen Punkten verrechnet."
            if language.startswith("de")
            else f" {entry['shortfall']} of them will be settled from future points."
        )
    return text
