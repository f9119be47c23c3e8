"""Tenant isolation over every route of the gateway's OpenAPI document (issue #7): merchant A's key on merchant B's
customers, orders, segments, templates, rewards, codes, keys, erasures and exports, by id and through list filters.

Merchant B gets a customer with an order, a parcel, a review and consents, a segment with an audience destination, a
reward and a code redeemed from it, its own wording of a mail, settings, branding, a webhook secret and an erasure
request, all through the gateway, each value unique to this run. Then every operation of the live `/openapi.json` is
called with A's key (generated, not listed: path parameters are B's ids, list filters B's values, bodies the
operation's own example with its ids turned into B's), reads first, then changes. No answer may be a 5xx, none may
show any of B's values, and a read of one of B's things by id is a 404, except where the route answers every id the
same way by design (then A's answer must be exactly what A gets for an id nobody has). Afterwards B finds all its
data as it was, also once A's erasure of "B's customer id" has completed everywhere.

An operation with a path or query parameter this test cannot fill with B's value, or a route it does not cover,
fails the test: a new route has to say here how it keeps tenants apart.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from services.common.db import create_pool
from services.gateway.adapters.merchants import create_key, create_merchant
from services.segments.domain.audiences import normalise_email, sha256_hex
from tests.e2e.test_platform import Platform, platform, post_events  # noqa: F401
from tests.e2e.test_privacy import Person
from tests.support import eventually

#: Not called with A's key, each with why the question does not arise.
SKIPPED = {
    # Ingestion takes the merchant from the key: an event naming B's ids is A's own data (and refused with a
    # `merchant_id`, see test_platform.py); it returns only per-item results.
    ("POST", "/v1/events"): "ingestion",
    # Public pages carry no API key: the signed token is the credential and names its merchant and customer or
    # order. (That A's own link for B's order id shows nothing is checked with the tracking link below.)
    ("GET", "/t/{token}"): "public page",
    ("GET", "/u/{token}"): "public page",
    ("POST", "/u/{token}"): "public page",
    ("GET", "/c/{token}"): "public page",
    ("POST", "/c/{token}"): "public page",
}
#: Routes that answer for any id alike by design: A's answer for B's id must be what A gets for an id nobody has.
ANY_ID = {
    # Consent may be recorded before the shop sends the customer (a newsletter sign-up): the default for anyone.
    ("GET", "/v1/customers/{customer_id}/consent"),
    # No messages or parcels for a customer is an empty list, whoever they are.
    ("GET", "/v1/customers/{customer_id}/messages"),
    ("GET", "/v1/customers/{customer_id}/shipments"),
    # A customer nobody knows gives empty sections (GDPR: "we hold nothing about you").
    ("GET", "/v1/customers/{customer_id}/export"),
    # A signed link to the caller's own page for that order id: checked to show nothing below.
    ("GET", "/v1/orders/{order_id}/tracking-link"),
}
#: What a change with A's key that names B's id answers, where it is not a 404 (default for B's ids).
CHANGES = {
    # PUT creates or replaces: A gets a reward of its own under that key; B's is untouched (checked afterwards).
    ("PUT", "/v1/loyalty/rewards/{reward_id}"): 200,
    # The shop's side of consent: recorded for A's customer of that id; B's is untouched (checked afterwards).
    ("PUT", "/v1/customers/{customer_id}/consent"): 200,
    # An erasure of A's customer of that id (there is none): B's customer keeps everything (checked afterwards).
    ("POST", "/v1/customers/{customer_id}/erasure"): 202,
    # Removing a destination is idempotent: A has none for that segment id.
    ("DELETE", "/v1/segments/{segment_id}/audience-destination"): 204,
    # Shopify's deliveries are signed, and A's key is no signature.
    ("POST", "/v1/webhooks/shopify/{merchant_id}"): 401,
}
#: Path parameters that name one of B's things (the others name what every merchant has, e.g. a carrier).
B_IDS = {"customer_id", "order_id", "segment_id", "reward_id", "code", "key_id", "request_id", "merchant_id"}
SHARED = {"carrier": "dhl", "message": "shipped", "locale": "de"}


@dataclass
class MerchantB:
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    person: Person = field(default_factory=Person)
    merchant_id: str = ""
    key: str = ""
    ids: dict[str, str] = field(default_factory=dict)
    #: Values only B's data holds: none may ever appear in an answer to A.
    values: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.merchant_id = f"b-{self.tag}"
        self.segment_id = f"b-stammkunden-{self.tag}"
        self.reward_id = f"b-praemie-{self.tag}"
        self.ids = {
            "customer_id": self.person.customer_id,
            "order_id": self.person.order_id,
            "shipment_id": f"s-{self.person.customer_id}",  # as Person names them
            "review_id": f"rv-{self.person.customer_id}",
            "segment_id": self.segment_id,
            "reward_id": self.reward_id,
            "merchant_id": self.merchant_id,
        }
        # The phone number and birthday are the contract's examples (in /asyncapi.json too): not B's alone.
        personal = {k: v for k, v in self.person.secrets().items() if k not in ("phone", "birthday")}
        self.values = {
            **personal,
            "email_hash": sha256_hex(normalise_email(self.person.email) or ""),
            "segment_name": f"Stammkunden von B {self.tag}",
            "segment_description": f"Nur B kennt dieses Segment {self.tag}",
            "reward_name": f"B-Prämie {self.tag}",
            "template_subject": f"B schreibt anders {self.tag}",
            "sender_name": f"B-Versand {self.tag}",
            "shop_name": f"B-Rösterei {self.tag}",
            "tier_name": f"B-Stufe {self.tag}",
            "destination": f"https://b-{self.tag}.example.com/audiences",
            "webhook_secret": f"shpss_b_{self.tag}_0123456789abcdef",
            "merchant_id": self.merchant_id,
        }

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


async def new_merchant(platform: Platform, merchant_id: str, name: str) -> str:  # noqa: F811
    pool = await create_pool(platform.info["database_url"], "gateway")
    try:
        await create_merchant(pool, merchant_id, name)
        return await create_key(pool, merchant_id, label="tenant isolation")
    finally:
        await pool.close()


async def seed(platform: Platform, b: MerchantB) -> None:  # noqa: F811
    """B's data through the gateway with B's key, each piece applied by its service before A's sweep."""
    b.key = await new_merchant(platform, b.merchant_id, f"Rösterei B {b.tag}")
    cid = b.person.customer_id
    async with httpx.AsyncClient(base_url=platform.gateway, headers=b.headers(), timeout=30) as http:
        definition = {"op": "performed", "event": "order.placed", "at_least": 1, "within_days": 30}
        segment = {"segment_id": b.segment_id, "name": b.values["segment_name"],
                   "description": b.values["segment_description"], "definition": definition}  # fmt: skip
        await expect(http.post("/v1/segments", json=segment), 201)
        accepted = await post_events(platform, b.person.events(), key=b.key)
        assert accepted.status_code == 200 and accepted.json()["rejected"] == 0, accepted.text
        reward = {"type": "fixed_amount", "name_de": b.values["reward_name"], "name_en": f"B reward {b.tag}",
                  "points_price": 50, "value_minor": 500}  # fmt: skip
        await expect(http.put(f"/v1/loyalty/rewards/{b.reward_id}", json=reward), 200)
        programme = (await expect(http.get("/v1/loyalty/programme"), 200))["config"]
        programme["tiers"]["levels"][0]["name_de"] = b.values["tier_name"]
        await expect(http.put("/v1/loyalty/programme", json=programme), 200)
        draft = {"subject": b.values["template_subject"], "text": "Hallo {{ first_name }}", "html": "<p>Hallo</p>"}
        await expect(http.put("/v1/notifications/templates/shipped/de", json=draft), 200)
        await expect(http.put("/v1/notifications/settings", json={"sender_name": b.values["sender_name"]}), 200)
        await expect(http.put("/v1/tracking/branding", json={"shop_name": b.values["shop_name"]}), 200)
        await expect(http.put("/v1/webhooks/shopify/secret", json={"secret": b.values["webhook_secret"]}), 200)
        destination = {"format": "meta", "url": b.values["destination"]}
        await expect(http.put(f"/v1/segments/{b.segment_id}/audience-destination", json=destination), 200)
        erasure = await expect(http.post(f"/v1/customers/c-{b.tag}-gone/erasure", json={}), 202)
        b.ids["request_id"] = erasure["request_id"]
        b.ids["key_id"] = (await expect(http.get("/v1/keys"), 200))["items"][0]["key_id"]

        async def applied() -> bool:
            paths = (
                f"/v1/customers/{cid}/loyalty",
                f"/v1/customers/{cid}/profile",
                f"/v1/orders/{b.ids['order_id']}/tracking",
            )
            answers = [await http.get(path) for path in paths]
            members = await http.get(f"/v1/segments/{b.segment_id}/members")
            return (
                all(a.status_code == 200 for a in answers) and cid in members.text and b.person.email in answers[1].text
            )

        await eventually(applied, timeout_s=60)
        redeemed = await expect(
            http.post(f"/v1/customers/{cid}/redemptions", json={"reward_id": b.reward_id, "client_key": f"b-{b.tag}"}),
            201,
        )
        b.ids["code"] = redeemed["code"]
        b.values["code"] = redeemed["code"]
        audience = await http.get(f"/v1/segments/{b.segment_id}/audience", params={"format": "meta"})
        assert b.values["email_hash"] in audience.text, "B's audience does not hold B's customer: nothing to protect"


async def expect(request: Any, status: int) -> Any:
    response = await request
    assert response.status_code == status, f"{response.request.method} {response.request.url}: {response.text}"
    return response.json() if response.content else None


# --- the sweep ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    method: str
    template: str
    path: str
    params: dict[str, str]
    body: Any
    #: B's ids this call names itself (an answer may echo them back).
    named: frozenset[str]


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m.upper(), p, op) for p, item in document["paths"].items() for m, op in item.items()]


def query_value(name: str, b: MerchantB) -> str | None:
    """What a query parameter is set to: B's value where it filters by one of B's things; None: not sent."""
    known: dict[str, str | None] = {
        "segment": b.segment_id,  # /v1/kpis, /v1/kpis/cohorts: a segment's members only
        "after": b.person.customer_id,  # cursors of customer lists
        "from": "2025-01",
        "to": "2026-12",
        "format": "meta",
        # Paging, language and time windows: nothing of B's to name (a cursor is the caller's own previous page).
        "by": None, "lang": None, "limit": None, "cursor": None, "before": None, "since": None, "until": None,
    }  # fmt: skip
    if name not in known:
        pytest.fail(f"query parameter {name!r} is new: say in query_value whether it filters by B's data")
    return known[name]


def example_body(document: dict[str, Any], op: dict[str, Any]) -> Any:
    media = op["requestBody"]["content"].get("application/json")
    assert media is not None, "a body that is not JSON: teach the sweep to send it"
    if "example" in media:
        return media["example"]
    if media.get("examples"):
        return next(iter(media["examples"].values()))["value"]
    schema = media.get("schema", {})
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    if "example" in schema:
        return schema["example"]
    assert schema.get("examples"), "no example body (tests/unit/test_gateway_openapi_examples.py requires one)"
    return schema["examples"][0]


def call_for(method: str, path: str, op: dict[str, Any], document: dict[str, Any], b: MerchantB) -> Call:
    values, named = {}, set()
    for parameter in op.get("parameters", []):
        parameter = resolve_parameter(document, parameter)
        name, where = parameter["name"], parameter["in"]
        if where == "path":
            if name in B_IDS:
                assert name in b.ids, f"{method} {path}: B has no {name} to try"
                values[name] = b.ids[name]
                named.add(b.ids[name])
            elif name in SHARED:
                values[name] = SHARED[name]
            else:
                pytest.fail(f"{method} {path}: path parameter {name!r} is new: say in B_IDS or SHARED what it names")
    params = {}
    for parameter in op.get("parameters", []):
        parameter = resolve_parameter(document, parameter)
        if parameter["in"] == "query" and (value := query_value(parameter["name"], b)) is not None:
            params[parameter["name"]] = value
            named.add(value)
    body = None
    if "requestBody" in op:
        # The example with its ids (the OpenAPI examples' customer, order, segment and reward) made B's.
        text = json.dumps(example_body(document, op))
        for example_id, name in (("c-4711", "customer_id"), ("o-100234", "order_id"),
                                 ("active-coffee", "segment_id"), ("five-off", "reward_id")):  # fmt: skip
            text = text.replace(f'"{example_id}"', json.dumps(b.ids[name]))
        body = json.loads(text)
        named |= {b.ids[name] for name in ("customer_id", "order_id", "segment_id", "reward_id") if b.ids[name] in text}
    url = re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)
    return Call(method, path, url, params, body, frozenset(named))


def resolve_parameter(document: dict[str, Any], parameter: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in parameter:
        return document["components"]["parameters"][parameter["$ref"].rsplit("/", 1)[-1]]
    return parameter


def leaks(answer: httpx.Response, call: Call, b: MerchantB) -> list[str]:
    """B's values in an answer to A: any distinctive value, and any of B's ids the call did not name itself."""
    text = answer.text
    found = [name for name, value in b.values.items() if value in text and value not in call.named]
    return found + [f"id {name}" for name, value in b.ids.items() if value in text and value not in call.named]


async def test_merchant_a_sees_nothing_of_merchant_b(platform: Platform) -> None:  # noqa: F811
    b = MerchantB()
    await seed(platform, b)
    a_key = await new_merchant(platform, f"a-{b.tag}", "Rösterei A")
    async with (
        httpx.AsyncClient(base_url=platform.gateway, headers={"Authorization": f"Bearer {a_key}"}, timeout=30) as a,
        httpx.AsyncClient(base_url=platform.gateway, headers=b.headers(), timeout=30) as as_b,
    ):
        document = (await a.get("/openapi.json")).json()
        before = await b_view(as_b, b)
        calls = [
            call_for(method, path, op, document, b)
            for method, path, op in operations(document)
            if (method, path) not in SKIPPED
        ]
        problems: list[str] = []
        erasures: list[str] = []
        for call in in_order(calls):
            answer = await a.request(call.method, call.path, params=call.params, json=call.body)
            problems += judge(call, answer, b)
            if (call.method, call.template) in ANY_ID or (call.method == "GET" and filters_by_b(call, b)):
                problems += await same_as_for_nobody(a, call, answer, b)
            if call.template == "/v1/customers/{customer_id}/erasure" and answer.status_code == 202:
                erasures.append(answer.json()["status_url"])
        assert not problems, "A's key reached B's data:\n" + "\n".join(problems)

        for status_url in erasures:  # A's erasure of "B's customer id" applied everywhere before B looks again

            async def complete(url: str = status_url) -> bool:
                return (await a.get(url)).json()["status"] == "complete"

            await eventually(complete, timeout_s=60, interval_s=0.5)
        after = await b_view(as_b, b)
    assert after == before, "B's data changed by A's calls"
    every = {(m, p) for m, p, _ in operations(document)}
    assert every == {(c.method, c.template) for c in calls} | SKIPPED.keys()
    assert ANY_ID | CHANGES.keys() <= every, "an exception for a route that is gone"


def names_b(call: Call) -> bool:
    return any(f"{{{p}}}" in call.template for p in B_IDS)


def in_order(calls: list[Call]) -> list[Call]:
    """Reads first, before anything of A's could change what they read; then the changes naming B's ids, deletions
    first (an A's own thing under B's id, which a PUT or a create makes, would answer a DELETE); then the rest."""
    reads = [c for c in calls if c.method == "GET"]
    by_id = sorted((c for c in calls if c.method != "GET" and names_b(c)), key=lambda c: c.method != "DELETE")
    return reads + by_id + [c for c in calls if c.method != "GET" and not names_b(c)]


def judge(call: Call, answer: httpx.Response, b: MerchantB) -> list[str]:
    where = f"{call.method} {call.path}"
    problems = [f"{where}: shows B's {name}" for name in leaks(answer, call, b)]
    if answer.status_code >= 500:
        problems.append(f"{where}: {answer.status_code} {answer.text[:200]}")
    if call.template.startswith("/admin/"):
        expected: int | None = 401  # A's key is no admin token
    elif (call.method, call.template) in CHANGES:
        expected = CHANGES[(call.method, call.template)]
    elif (call.method, call.template) in ANY_ID:
        expected = 200
    elif names_b(call):
        expected = 404
    else:
        expected = None  # A's own lists and settings: anything but a 5xx, showing nothing of B
    if expected is not None and answer.status_code != expected:
        problems.append(f"{where}: {answer.status_code} instead of {expected}: {answer.text[:200]}")
    return problems


def filters_by_b(call: Call, b: MerchantB) -> bool:
    return any(value in b.ids.values() for value in call.params.values())


async def same_as_for_nobody(a: httpx.AsyncClient, call: Call, answer: httpx.Response, b: MerchantB) -> list[str]:
    """A's answer naming B's ids (in the path, or as a list filter) must be A's answer naming ids nobody has, those
    ids aside: whether B has such a thing makes no difference to A."""
    where = f"{call.method} {call.path} {call.params or ''}"
    if call.template == "/v1/orders/{order_id}/tracking-link":  # signed, so never the same twice: follow it instead
        page = await a.get(httpx.URL(answer.json()["url"]).path)
        shown = [name for name, value in b.values.items() if value in page.text]
        return (
            [f"{where}: its page answers {page.status_code}, showing {shown}"]
            if page.status_code != 404 or shown
            else []
        )
    named = sorted((v for v in b.ids.values() if v in call.named), key=len, reverse=True)  # "o-c-1" before "c-1"
    nobody = [f"nobody-{uuid.uuid4().hex[:8]}" for _ in named]
    path, params = call.path, dict(call.params)
    for mine, theirs in zip(named, nobody, strict=True):
        path = path.replace(mine, theirs)
        params = {k: theirs if v == mine else v for k, v in params.items()}
    other = await a.request(call.method, path, params=params)
    mine, theirs = normalised(answer, named), normalised(other, nobody)
    return [] if (answer.status_code, mine) == (other.status_code, theirs) else [f"{where}: {mine} != {theirs}"]


def normalised(answer: httpx.Response, ids: list[str]) -> Any:
    """The answer with the ids it was asked about as placeholders, and without the moment it was made."""
    text = answer.text
    for index, value in enumerate(ids):
        text = text.replace(value, f"<id {index}>")
    try:
        document = json.loads(text)
    except ValueError:
        return text
    return {k: v for k, v in document.items() if k != "exported_at"} if isinstance(document, dict) else document


async def b_view(http: httpx.AsyncClient, b: MerchantB) -> dict[str, Any]:
    """What B reads of its own data: the same before and after A's calls."""
    cid, seg = b.person.customer_id, b.segment_id
    profile = (await expect(http.get(f"/v1/customers/{cid}/profile"), 200))["person"]
    loyalty = await expect(http.get(f"/v1/customers/{cid}/loyalty"), 200)
    destination = await expect(http.get(f"/v1/segments/{seg}/audience-destination"), 200)
    key = (await expect(http.get("/v1/keys"), 200))["items"][0]
    return {
        "profile": {k: profile.get(k) for k in ("email", "first_name", "last_name")},
        "loyalty": {k: loyalty[k] for k in ("available", "pending", "redeemed", "codes")},
        "consent": await expect(http.get(f"/v1/customers/{cid}/consent"), 200),
        "segment": await expect(http.get(f"/v1/segments/{seg}"), 200),
        "destination": {k: destination[k] for k in ("format", "url")},
        "rewards": await expect(http.get("/v1/loyalty/rewards"), 200),
        "programme": await expect(http.get("/v1/loyalty/programme"), 200),
        "template": await expect(http.get("/v1/notifications/templates/shipped/de"), 200),
        "settings": await expect(http.get("/v1/notifications/settings"), 200),
        "branding": await expect(http.get("/v1/tracking/branding"), 200),
        "code": await expect(http.get(f"/v1/loyalty/codes/{b.ids['code']}"), 200),
        "erasure": (await expect(http.get(f"/v1/privacy/erasures/{b.ids['request_id']}"), 200))["customer_id"],
        "key": {k: key[k] for k in ("key_id", "status", "revoked_at", "expires_at")},
        "export": bool(b.person.email in (await http.get(f"/v1/customers/{cid}/export")).text),
        "audience": b.values["email_hash"] in (await http.get(f"/v1/segments/{seg}/audience?format=meta")).text,
    }
