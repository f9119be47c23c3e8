"""GDPR through the gateway on the whole platform: export everything held about a customer, erase them in every
service, follow the status until complete; afterwards no service answers with their personal data and the audience
download no longer contains their email hash.

The platform runs as in `test_platform.py` (the same `Platform`, in a module of its own).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

from services.common.db import create_pool
from services.gateway.adapters.merchants import create_key, create_merchant
from services.segments.domain.audiences import normalise_email, sha256_hex
from tests.e2e.test_platform import Platform, now, paid_order, platform, post_events  # noqa: F401
from tests.support import eventually, example_event


class Person:
    """A customer whose every personal value is unique to this run, so "nowhere" can be checked by text search."""

    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:8]
        self.customer_id = f"c-{tag}"
        self.email = f"privat-{tag}@example.de"
        self.first_name, self.last_name = f"Erika{tag}", f"Mustermann{tag}"
        self.phone = "+4930901820"
        self.street, self.city, self.postcode = f"Geheimweg {tag}", f"Ortsteil{tag}", f"P{tag[:6]}"
        self.birthday = "1977-02-11"
        self.tracking_number = f"00{uuid.uuid4().int % 10**18:018d}"
        self.review_title = f"Sehr gut, sagt {tag}"

    def secrets(self) -> dict[str, str]:
        return {
            "email": self.email,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "phone": self.phone,
            "street": self.street,
            "city": self.city,
            "postcode": self.postcode,
            "birthday": self.birthday,
            "tracking_number": self.tracking_number,
            "review": self.review_title,
        }

    def events(self) -> list[dict[str, Any]]:
        address = {"city": self.city, "postcode": self.postcode, "country": "DE"}
        customer = example_event(
            "customer.created",
            customer_id=self.customer_id,
            email=self.email,
            first_name=self.first_name,
            last_name=self.last_name,
            phone=self.phone,
            birthday=self.birthday,
            address={"street": self.street, **address},
        )
        customer["data"].pop("referrer_customer_id", None)
        ads = example_event(
            "consent.changed", customer_id=self.customer_id, channel="advertising", purpose="advertising",
            granted=True, source="checkout",
        )  # fmt: skip
        newsletter = example_event("consent.changed", customer_id=self.customer_id)  # double opt-in confirmed
        order, paid = paid_order(self.customer_id, 4_990)
        order["data"].update(email=self.email, shipping_address=address)
        line_ids = [line["line_id"] for line in order["data"]["lines"]]
        review = example_event(
            "review.submitted", customer_id=self.customer_id, order_id=self.order_id,
            review_id=f"rv-{self.customer_id}", rating=5, title=self.review_title,
        )  # fmt: skip
        parcel = example_event(
            "shipment.created", customer_id=self.customer_id, order_id=self.order_id,
            shipment_id=f"s-{self.customer_id}", tracking_number=self.tracking_number, line_ids=line_ids,
            destination=address, tracking_url=f"https://www.dhl.de/sendung?piececode={self.tracking_number}",
            promised_delivery_date=(date.today() + timedelta(days=5)).isoformat(),
        )  # fmt: skip
        scan = example_event(
            "shipment.status_updated", customer_id=self.customer_id, order_id=self.order_id,
            shipment_id=f"s-{self.customer_id}", tracking_number=self.tracking_number, status="in_transit",
            raw_status_code="transit", location=address, scanned_at=datetime.now(UTC).isoformat(),
        )  # fmt: skip
        return [now(customer), now(ads), now(newsletter), order, paid, now(review), now(parcel), now(scan)]

    @property
    def order_id(self) -> str:
        return f"o-{self.customer_id}"  # as paid_order names it

    def found_in(self, document: Any) -> list[str]:
        text = json.dumps(document, ensure_ascii=False, default=str)
        return [name for name, value in self.secrets().items() if value in text]


async def test_export_and_erasure_across_every_service(platform: Platform) -> None:  # noqa: F811
    person = Person()
    segment_id = f"privacy-{uuid.uuid4().hex[:6]}"
    definition = {"op": "performed", "event": "order.placed", "at_least": 1, "within_days": 30}
    segment = {"segment_id": segment_id, "name": "Käufer", "definition": definition}
    async with httpx.AsyncClient(base_url=platform.gateway, headers=platform.headers(), timeout=10) as http:
        created = await http.post("/v1/segments", json=segment)
        assert created.status_code == 201, created.text
        response = await post_events(platform, person.events())
        assert response.status_code == 200 and response.json()["accepted"] == 8, response.text
        await eventually(lambda: everything_applied(http, person, segment_id), timeout_s=60)

        email_hash = sha256_hex(normalise_email(person.email) or "")
        assert email_hash in await audience(http, segment_id)
        export = await http.get(f"/v1/customers/{person.customer_id}/export")
        assert export.status_code == 200, export.text
        sections = export.json()["services"]
        assert sorted(sections) == ["loyalty", "notifications", "segments", "tracking"]
        assert "birthday" in person.found_in(sections["loyalty"])  # the account's birthday (birthday points)
        assert {"email", "first_name", "last_name"} <= set(person.found_in(sections["notifications"]))
        assert {"email", "phone", "city", "postcode", "birthday"} <= set(person.found_in(sections["segments"]))
        assert {"postcode", "tracking_number", "city"} <= set(person.found_in(sections["tracking"]))

        requested = await http.post(f"/v1/customers/{person.customer_id}/erasure", json={"requested_by": "customer"})
        assert requested.status_code == 202, requested.text
        status_url = requested.json()["status_url"]
        assert requested.headers["location"] == status_url == f"/v1/privacy/erasures/{requested.json()['request_id']}"

        async def complete() -> dict[str, Any] | None:
            status = (await http.get(status_url)).json()
            return status if status["status"] == "complete" else None

        status = await eventually(complete, timeout_s=60, interval_s=0.5)
        assert sorted(status["services"]) == sorted(sections) and all(status["services"].values())
        assert status["customer_id"] == person.customer_id and status["completed_at"] is not None

        after = (await http.get(f"/v1/customers/{person.customer_id}/export")).json()
        assert person.found_in(after) == []
        assert {s: [e["request_id"] for e in after["services"][s]["erasures"]] for s in sections} == {
            s: [status["request_id"]] for s in sections
        }
        profile = (await http.get(f"/v1/customers/{person.customer_id}/profile")).json()
        assert profile["erased"] is True and profile["person"] == {} and segment_id not in profile["segments"]
        answers = [
            profile,
            (await http.get(f"/v1/customers/{person.customer_id}/loyalty")).json(),
            (await http.get(f"/v1/customers/{person.customer_id}/messages")).json(),
            (await http.get(f"/v1/customers/{person.customer_id}/consent")).json(),
            (await http.get(f"/v1/orders/{person.order_id}/tracking")).json(),
        ]
        assert [person.found_in(answer) for answer in answers] == [[]] * len(answers)
        assert email_hash not in await audience(http, segment_id)
        assert (await http.get(status_url)).json() == status  # complete for good


async def test_an_erasure_status_is_the_requesting_merchants_only(platform: Platform) -> None:  # noqa: F811
    pool = await create_pool(platform.info["database_url"], "gateway")
    try:
        other = f"m-{uuid.uuid4().hex[:10]}"
        await create_merchant(pool, other, "Andere GmbH")
        other_key = await create_key(pool, other)
        read_only = await create_key(pool, platform.info["merchant_id"], scopes=("customers:read",))
    finally:
        await pool.close()
    customer_id = f"c-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(base_url=platform.gateway, timeout=10) as http:
        requested = await http.post(f"/v1/customers/{customer_id}/erasure", headers=platform.headers())
        assert requested.status_code == 202 and requested.json()["customer_id"] == customer_id
        status_url = requested.json()["status_url"]
        assert (await http.get(status_url, headers=platform.headers())).status_code == 200
        assert (await http.get(status_url, headers=platform.headers(other_key))).status_code == 404
        unknown = await http.get(f"/v1/privacy/erasures/{uuid.uuid4()}", headers=platform.headers())
        assert unknown.status_code == 404 and unknown.headers["content-type"] == "application/problem+json"
        refused = await http.post(f"/v1/customers/{customer_id}/erasure", headers=platform.headers(read_only))
        assert refused.status_code == 403 and "privacy:write" in refused.json()["title"]
        export = await http.get(f"/v1/customers/{customer_id}/export", headers=platform.headers(read_only))
        assert export.status_code == 403 and "privacy:read" in export.json()["title"]


async def everything_applied(http: httpx.AsyncClient, person: Person, segment_id: str) -> bool:
    """Each service has applied the customer's events, including the mails tracking and the review flow asked for."""
    cid = person.customer_id
    loyalty = await http.get(f"/v1/customers/{cid}/loyalty")
    profile = await http.get(f"/v1/customers/{cid}/profile")
    consent = await http.get(f"/v1/customers/{cid}/consent")
    messages = await http.get(f"/v1/customers/{cid}/messages")
    tracking = await http.get(f"/v1/orders/{person.order_id}/tracking")
    if any(r.status_code != 200 for r in (loyalty, profile, consent, messages, tracking)):
        return False
    reasons = {h["reason_code"] for h in loyalty.json()["history"]}
    templates = {m["template"] for m in messages.json()["messages"]}
    shipment = tracking.json()["shipments"][0]
    return (
        {"signup", "purchase", "review_photo"} <= reasons
        and profile.json()["person"].get("email") == person.email
        and profile.json()["reviews"]["count"] == 1
        and segment_id in profile.json()["segments"]
        and profile.json()["consents"].get("advertising") is True
        and consent.json()["email_marketing"] is True
        and {"shipped", "positive_review_thanks"} <= templates
        and len(shipment["timeline"]) == 1
    )


async def audience(http: httpx.AsyncClient, segment_id: str) -> str:
    response = await http.get(f"/v1/segments/{segment_id}/audience", params={"format": "meta"})
    assert response.status_code == 200, response.text
    return response.text
