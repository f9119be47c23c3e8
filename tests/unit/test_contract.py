"""The event contract as data: examples, schemas, field-path errors, keys, topics and the generated docs."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from services.common.contract import (
    Contract,
    ContractViolation,
    EventTypeSpec,
    FieldError,
    TopicSpec,
    load_contract,
)
from services.common.contract.docs import asyncapi_yaml, envelope_schema, render_asyncapi, render_markdown
from services.common.contract.fastcheck import ContractValidator, compile_schema, format_checker
from services.common.contract.registry import CONTRACT_DIR, inline_refs
from services.common.envelope import new_envelope

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
CONTRACT = load_contract()
SPECS = CONTRACT.event_types()
EXAMPLES = [(spec, n, example) for spec in SPECS for n, example in enumerate(spec.examples)]
CONVENTION_TOPICS = {
    "shop.orders": ("customer_id",),
    "shop.shipments": ("order_id",),
    "shop.reviews": ("customer_id",),
    "shop.customers": ("customer_id",),
    "shop.carts": ("customer_id",),
    "loyalty.events": ("customer_id",),
    "tracking.events": ("order_id",),
    "segments.events": ("customer_id",),
    "notifications.events": ("customer_id",),
    "notifications.requests": ("customer_id",),
    "loyalty.requests": ("customer_id",),
}


def example(event_type: str, index: int = 0) -> dict[str, Any]:
    spec = next(s for s in SPECS if s.type == event_type)
    return copy.deepcopy(spec.examples[index])


def violation(raw: Any) -> ContractViolation:
    with pytest.raises(ContractViolation) as caught:
        CONTRACT.validate(raw)
    return caught.value


def paths(raw: Any) -> list[str]:
    return [e.path for e in violation(raw).errors]


# --- the data itself ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("spec", "n", "event"), EXAMPLES, ids=[f"{s.type}-{n}" for s, n, _ in EXAMPLES])
def test_every_example_validates(spec: EventTypeSpec, n: int, event: dict[str, Any]) -> None:
    envelope = CONTRACT.validate(event)
    assert (envelope.type, envelope.schema_version) == (spec.type, spec.version)
    assert CONTRACT.topic_for(envelope.type).name == spec.topic
    assert envelope.merchant_id == "demo-shop" and event["occurred_at"].endswith(("Z", "+00:00", "+01:00", "+02:00"))
    CONTRACT.validate(json.dumps(event).encode())  # bytes and dicts take the same path


def test_the_topics_of_the_conventions_exist_with_their_keys() -> None:
    assert {name: t.key for name, t in CONTRACT.topics.items()} == CONVENTION_TOPICS
    assert all(t.partitions == 4 and t.producers and t.config.get("retention.ms") for t in CONTRACT.topics.values())


def test_every_declared_type_has_an_example_and_a_schema_file() -> None:
    assert len({s.type for s in SPECS}) >= 18
    for spec in SPECS:
        assert spec.examples, spec.type
        assert (CONTRACT_DIR / "schemas" / f"{spec.type}.v{spec.version}.json").is_file()


def test_no_orphan_schema_or_example_files() -> None:
    declared_schemas = {f"{s.type}.v{s.version}.json" for s in SPECS}
    assert {p.name for p in (CONTRACT_DIR / "schemas").glob("*.json")} == declared_schemas
    declared_examples = set()
    for path in (CONTRACT_DIR / "topics").glob("*.yaml"):
        for versions in yaml.safe_load(path.read_text())["events"].values():
            for entry in versions.values():
                declared_examples.update(entry["examples"])
    on_disk = {str(p.relative_to(CONTRACT_DIR / "examples")) for p in (CONTRACT_DIR / "examples").rglob("*.json")}
    assert on_disk == declared_examples


@pytest.mark.parametrize("spec", SPECS, ids=[s.type for s in SPECS])
def test_every_schema_is_valid_draft_2020_12_closed_and_described(spec: EventTypeSpec) -> None:
    assert spec.schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(spec.schema)
    for where, node in _objects(inline_refs(spec.schema), "data"):
        assert node.get("additionalProperties") is False, where
        assert set(node.get("required", ())) <= set(node["properties"]), where
        for name, prop in node["properties"].items():
            assert prop.get("description"), f"{where}.{name} has no description"


def _objects(schema: dict[str, Any], where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    if "properties" in schema:
        yield where, schema
        for name, prop in schema["properties"].items():
            yield from _objects(prop, f"{where}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from _objects(schema["items"], f"{where}[]")


def test_money_is_integer_minor_units_and_times_carry_an_offset() -> None:
    for spec in SPECS:
        for where, node in _objects(inline_refs(spec.schema), "data"):
            for name, prop in node["properties"].items():
                if name.endswith("_minor"):
                    assert prop["type"] == "integer" and prop["minimum"] >= 0, f"{where}.{name}"
                if name.endswith("_at"):
                    assert prop["format"] == "date-time" and "Z|" in prop["pattern"], f"{where}.{name}"
                if name.endswith("_id") and prop.get("format") != "uuid" and name not in ("notification_id",):
                    assert prop["pattern"].startswith("^[A-Za-z0-9]"), f"{where}.{name}"
        if "currency" in spec.schema["properties"]:
            assert "currency" in spec.schema["required"], spec.type


# --- errors with field paths -------------------------------------------------------------------------------------


def test_missing_data_field_points_at_the_field() -> None:
    event = example("order.placed")
    del event["data"]["order_id"]
    assert violation(event).errors == [FieldError("data.order_id", "is required")]


def test_wrong_type_in_a_nested_line() -> None:
    event = example("order.placed")
    event["data"]["lines"][1]["quantity"] = "2"
    assert paths(event) == ["data.lines[1].quantity"]


def test_quantity_zero_gives_the_path_and_a_one_line_reason() -> None:
    event = example("order.placed")
    event["data"]["lines"][0]["quantity"] = 0
    exc = violation(event)
    assert exc.reason() == "data.lines[0].quantity: 0 is less than the minimum of 1"
    assert str(exc) == exc.reason() and isinstance(exc, ValueError)


@pytest.mark.parametrize("naive", ["2025-03-14T09:21:07", "2025-03-14 09:21:07", "2025-03-14"])
def test_timezone_naive_timestamps_are_refused(naive: str) -> None:
    event = example("shipment.status_updated")
    event["data"]["scanned_at"] = naive
    assert paths(event) == ["data.scanned_at"]
    event = example("order.placed")
    event["occurred_at"] = naive
    errors = violation(event).errors
    assert [e.path for e in errors] == ["occurred_at"] and "timezone" in errors[0].message


def test_offsets_other_than_utc_are_fine_and_normalised() -> None:
    event = example("order.placed")
    event["occurred_at"] = "2025-03-14T10:21:07+01:00"
    assert CONTRACT.validate(event).occurred_at.isoformat() == "2025-03-14T09:21:07+00:00"


def test_impossible_dates_are_refused_even_when_the_pattern_matches() -> None:
    event = example("shipment.created")
    event["data"]["promised_delivery_date"] = "2025-02-30"
    assert paths(event) == ["data.promised_delivery_date"]


def test_unknown_type_and_unknown_version() -> None:
    event = example("order.placed")
    unknown = violation({**event, "type": "order.teleported"}).errors
    assert [e.path for e in unknown] == ["type"] and "order.teleported" in unknown[0].message
    version = violation({**event, "schema_version": 7}).errors
    assert [e.path for e in version] == ["schema_version"] and "known: 1" in version[0].message


def test_extra_fields_are_refused_where_they_are() -> None:
    event = example("order.placed")
    event["data"]["lines"][0]["colour"] = "rot"
    event["data"]["gift_wrap"] = True
    assert sorted(paths(event)) == ["data.gift_wrap", "data.lines[0].colour"]
    assert paths({**example("order.placed"), "source": "erp"}) == ["source"]


def test_bad_json_and_non_objects() -> None:
    bad = violation(b'{"event_id": ')
    assert bad.errors[0].path == "" and "malformed JSON" in bad.errors[0].message
    assert "JSON object" in violation("[1, 2]").errors[0].message
    assert violation(b"\xff\xfe").errors[0].path == ""


def test_every_problem_is_reported_at_once() -> None:
    event = example("order.placed")
    event["occurred_at"] = "gestern"
    event["data"]["currency"] = "eur"
    event["data"]["lines"][0]["unit_price_minor"] = -5
    event["data"]["shipping_address"]["country"] = "Deutschland"
    assert paths(event) == [
        "occurred_at",
        "data.currency",
        "data.lines[0].unit_price_minor",
        "data.shipping_address.country",
    ]


def test_envelope_errors_name_their_field() -> None:
    found = paths(b'{"type": "order.placed", "data": 42}')
    assert found[:1] == ["event_id"] and {"merchant_id", "occurred_at", "data"} <= set(found)
    assert "event_id" in violation(b'{"type": "order.placed", "data": 42}').reason()
    assert paths({**example("order.placed"), "event_id": "not-a-uuid"}) == ["event_id"]
    assert paths({**example("order.placed"), "merchant_id": "a shop"}) == ["merchant_id"]


@pytest.mark.parametrize(
    ("field", "value"),
    [("schema_version", "1"), ("schema_version", True), ("occurred_at", 1_741_944_067)],
)
def test_json_types_are_not_coerced_in_the_envelope(field: str, value: Any) -> None:
    assert paths({**example("order.placed"), field: value}) == [field]


def test_money_with_a_fraction_is_refused() -> None:
    event = example("order.placed")
    event["data"]["total_minor"] = 4975.0
    assert paths(event) == ["data.total_minor"]


def test_validate_data_and_topic_for() -> None:
    data = example("loyalty.points_earned")["data"]
    CONTRACT.validate_data("loyalty.points_earned", 1, data)
    with pytest.raises(ContractViolation) as caught:
        CONTRACT.validate_data("loyalty.points_earned", 1, {**data, "points": 0})
    assert caught.value.errors[0].path == "data.points"
    with pytest.raises(ContractViolation) as caught:
        CONTRACT.validate_data("loyalty.points_earned", 2, data)
    assert caught.value.errors[0].path == "schema_version"
    with pytest.raises(ContractViolation) as caught:
        CONTRACT.topic_for("order.teleported")
    assert caught.value.errors[0].path == "type"
    assert CONTRACT.topic_for("review.submitted").name == "shop.reviews"


# --- keys and topics -----------------------------------------------------------------------------------------------


def test_partition_key_is_merchant_and_the_topic_key() -> None:
    assert CONTRACT.partition_key(CONTRACT.validate(example("order.placed"))) == b"demo-shop:c-4711"
    assert CONTRACT.partition_key(CONTRACT.validate(example("shipment.status_updated"))) == b"demo-shop:o-100234"
    assert (
        CONTRACT.partition_key(CONTRACT.validate(example("tracking.shipment_status_changed"))) == b"demo-shop:o-100234"
    )
    for spec, _, event in EXAMPLES:
        key = CONTRACT.partition_key(CONTRACT.validate(event))
        assert key.startswith(b"demo-shop:") and key.count(b":") == len(CONTRACT.topics[spec.topic].key)


def test_topics_to_create_has_every_topic_and_a_dlq_for_every_consumed_topic() -> None:
    created = {name: (partitions, config) for name, partitions, config in CONTRACT.topics_to_create()}
    for topic in CONTRACT.topics.values():
        assert created[topic.name] == (4, topic.config)
        assert (topic.dlq in created) == bool(topic.consumers)
    for consumed in ("shop.orders", "shop.shipments", "shop.customers", "loyalty.events"):
        partitions, config = created[f"{consumed}.dlq"]
        assert partitions == 1 and all(isinstance(v, str) for v in config.values())
    assert all(isinstance(v, str) for _, _, config in CONTRACT.topics_to_create() for v in config.values())


def test_a_type_must_require_its_topic_key_and_live_on_one_topic() -> None:
    spec = next(s for s in SPECS if s.type == "order.placed")
    loose = copy.deepcopy(spec.schema)
    loose["required"].remove("customer_id")
    bad = EventTypeSpec(spec.type, 1, loose, spec.examples, "shop.orders")
    topic = CONTRACT.topics["shop.orders"]
    with pytest.raises(ValueError, match="key fields"):
        Contract({"shop.orders": TopicSpec(**{**topic.__dict__, "event_types": {spec.type: {1: bad}}})})
    twice = {name: CONTRACT.topics[name] for name in ("shop.orders", "shop.carts")}
    twice["shop.carts"] = TopicSpec(**{**twice["shop.carts"].__dict__, "event_types": {spec.type: {1: spec}}})
    with pytest.raises(ValueError, match="declared on"):
        Contract(twice)


def test_emitted_events_from_new_envelope_validate() -> None:
    data = example("segments.profile_updated")["data"]
    envelope = new_envelope("segments.profile_updated", "m-1", data, occurred_at=datetime(2025, 3, 14, 9, tzinfo=UTC))
    assert CONTRACT.validate(envelope.to_bytes()) == envelope


# --- the fast check agrees with jsonschema ---------------------------------------------------------------------------

_ODD_VALUES: list[Any] = [
    None,
    True,
    0,
    -1,
    1.5,
    "",
    "x" * 300,
    "a b",
    [],
    {},
    "2025-01-01T10:00:00",
    10**12,
    "2025-13-01",
]


def _mutations(data: Any) -> Iterator[Any]:
    """Every way of breaking one spot of `data`: odd values, a removed key, an extra key."""
    if isinstance(data, dict):
        yield {**data, "zz_extra": 1}
        for key, value in data.items():
            yield {k: v for k, v in data.items() if k != key}
            for odd in _ODD_VALUES:
                yield {**data, key: odd}
            for mutated in _mutations(value):
                yield {**data, key: mutated}
    elif isinstance(data, list):
        for index, value in enumerate(data):
            for mutated in _mutations(value):
                yield [*data[:index], mutated, *data[index + 1 :]]
        yield [*data, *data[:1]]  # duplicates: `uniqueItems`


@pytest.mark.parametrize("spec", SPECS, ids=[s.type for s in SPECS])
def test_fast_check_agrees_with_jsonschema(spec: EventTypeSpec) -> None:
    inlined = inline_refs(spec.schema)
    fast, thorough = compile_schema(inlined), ContractValidator(inlined, format_checker=format_checker())
    checked = 0
    for event in spec.examples:
        for mutated in _mutations(event["data"]):
            assert fast(mutated) == thorough.is_valid(mutated), json.dumps(mutated, ensure_ascii=False)
            checked += 1
    assert checked > 20


def test_fast_check_refuses_keywords_it_does_not_know() -> None:
    with pytest.raises(ValueError, match="oneOf"):
        compile_schema({"type": "object", "oneOf": [{"required": ["a"]}]})


# --- generated documents ---------------------------------------------------------------------------------------------


def test_committed_docs_are_freshly_rendered() -> None:
    """Run `retention contract docs` (or `make docs`) after changing the contract."""
    assert (REPO / "docs" / "event-contract.md").read_text(encoding="utf-8") == render_markdown(CONTRACT)
    assert (REPO / "docs" / "asyncapi.yaml").read_text(encoding="utf-8") == asyncapi_yaml(CONTRACT)


def test_markdown_lists_every_topic_and_type() -> None:
    text = render_markdown(CONTRACT)
    assert all(f"### `{name}`" in text for name in CONTRACT.topics)
    assert all(f"#### `{spec.type}` v{spec.version}" in text for spec in SPECS)
    assert "| `data.lines[].quantity` | integer | yes |" in text


def test_asyncapi_document_has_a_channel_per_topic_and_resolvable_refs() -> None:
    doc = render_asyncapi(CONTRACT)
    assert doc["asyncapi"] == "3.0.0"
    assert sorted(c["address"] for c in doc["channels"].values()) == sorted(CONTRACT.topics)
    for topic in CONTRACT.topics.values():
        channel = next(c for c in doc["channels"].values() if c["address"] == topic.name)
        assert len(channel["messages"]) == sum(len(v) for v in topic.event_types.values())
        assert channel["bindings"]["kafka"]["partitions"] == topic.partitions
    actions = sorted(op["action"] + ":" + op["title"].split()[0] for op in doc["operations"].values())
    expected = sorted(
        [f"send:{p}" for t in CONTRACT.topics.values() for p in t.producers]
        + [f"receive:{c}" for t in CONTRACT.topics.values() for c in t.consumers]
    )
    assert actions == expected
    for ref in _refs(doc):
        node: Any = doc
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]
    assert yaml.safe_load(asyncapi_yaml(CONTRACT)) == json.loads(json.dumps(doc))


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if "$ref" in node:
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


@pytest.mark.parametrize(("spec", "n", "event"), EXAMPLES, ids=[f"{s.type}-{n}" for s, n, _ in EXAMPLES])
def test_asyncapi_payload_schema_accepts_the_examples(spec: EventTypeSpec, n: int, event: dict[str, Any]) -> None:
    payload = envelope_schema(spec)
    ContractValidator(payload, format_checker=format_checker()).validate(event)
    assert not ContractValidator(payload).is_valid({**event, "event_id": str(uuid.uuid4()).upper() + "x"})


def test_new_envelope_fast_path_builds_what_validation_builds_and_still_refuses_bad_values() -> None:
    from datetime import timedelta, timezone

    from pydantic import ValidationError

    from services.common.envelope import Envelope, new_envelope

    at = datetime(2026, 3, 1, 12, tzinfo=timezone(timedelta(hours=1)))
    data = {"customer_id": "c1"}
    built = new_envelope("customer.updated", "m-1", data, occurred_at=at)
    data["customer_id"] = "changed later"  # the envelope keeps its own copy
    validated = Envelope.model_validate(built.model_dump())
    assert built == validated and built.model_fields_set == validated.model_fields_set
    assert built.__pydantic_extra__ is None and built.__pydantic_private__ is None
    assert built.occurred_at.utcoffset() == timedelta(0) and built.data == {"customer_id": "c1"}
    assert Envelope.from_bytes(built.to_bytes()) == built and built.to_bytes() == validated.to_bytes()
    assert built.model_copy(update={"data": {"customer_id": "c2"}}).data == {"customer_id": "c2"}
    assert built.data == {"customer_id": "c1"}, "a copy's update leaves the original alone"
    with pytest.raises(ValidationError):
        built.type = "order.placed"  # type: ignore[misc]  (frozen like a validated envelope)
    for bad in (
        {"event_type": "Not A Type", "merchant_id": "m-1", "occurred_at": at},
        {"event_type": "customer.updated", "merchant_id": "m 1", "occurred_at": at},
        {"event_type": "customer.updated", "merchant_id": "m-1", "occurred_at": at.replace(tzinfo=None)},
    ):
        with pytest.raises(ValidationError):
            new_envelope(bad["event_type"], bad["merchant_id"], {}, occurred_at=bad["occurred_at"])


def test_a_nul_character_anywhere_is_a_violation_with_its_path_but_an_escaped_backslash_is_not() -> None:
    event = example("order.placed")
    event["data"]["lines"][0]["name"] = "Espresso\x00Bohnen"
    with pytest.raises(ContractViolation) as refused:
        CONTRACT.validate(json.dumps(event).encode())
    assert refused.value.errors[0].path == "data.lines[0].name"
    event["data"]["lines"][0]["name"] = "Espresso \\u0000 Bohnen"  # a backslash, then the letters u0000
    assert CONTRACT.validate(json.dumps(event).encode()).data["lines"][0]["name"] == "Espresso \\u0000 Bohnen"


@given(st.uuids(), st.text(max_size=80))
def test_derived_event_ids_are_uuid5_of_the_source_id_and_purpose(source: uuid.UUID, purpose: str) -> None:
    from services.common.envelope import derived_event_id

    assert derived_event_id(source, purpose) == uuid.uuid5(source, purpose)
