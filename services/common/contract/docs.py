"""The contract rendered for people (Markdown) and for tools (AsyncAPI 3.0), both generated, never hand-edited."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from services.common.contract.registry import DLQ_CONFIG, DLQ_PARTITIONS, Contract, EventTypeSpec, inline_refs
from services.common.envelope import ID_PATTERN

GENERATED_NOTE = "Generated from `services/common/contract/` by `retention contract docs`; do not edit by hand."
TIMESTAMP_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})$"
UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"

_ENVELOPE_FIELDS = (
    (
        "event_id",
        "string (uuid)",
        "The producer's id of this event. A repeat of an id is a duplicate: it is applied once.",
    ),
    ("type", "string", "Event type, past tense: `order.placed`. Decides the topic and the schema of `data`."),
    ("schema_version", "integer ≥ 1", "Version of the `data` schema; 1 when omitted (the only optional field)."),
    (
        "merchant_id",
        "string (id)",
        "The shop. Set by the gateway from the API key; straight-to-Kafka producers set it.",
    ),
    ("occurred_at", "string (date-time)", "When it happened in the shop (event time), with a timezone; stored in UTC."),
    ("data", "object", "The event's fields, as the type's JSON Schema below says."),
)


def envelope_schema(spec: EventTypeSpec | None = None) -> dict[str, Any]:
    """The envelope as a JSON Schema, with one type's `data` schema inlined when given."""
    data: dict[str, Any] = {"type": "object", "description": "The event's fields; their schema depends on `type`."}
    if spec is not None:
        data = {k: v for k, v in inline_refs(spec.schema).items() if k not in ("$schema", "$id", "title")}
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["event_id", "type", "merchant_id", "occurred_at", "data"],
        "properties": {
            "event_id": {
                "type": "string",
                "format": "uuid",
                "pattern": UUID_PATTERN,
                "description": _ENVELOPE_FIELDS[0][2],
            },
            "type": {"type": "string", "description": _ENVELOPE_FIELDS[1][2]}
            | ({"const": spec.type} if spec else {"pattern": r"^[a-z]+(\.[a-z_]+)+$"}),
            "schema_version": {"type": "integer", "description": _ENVELOPE_FIELDS[2][2]}
            | ({"const": spec.version} if spec else {"minimum": 1}),
            "merchant_id": {"type": "string", "pattern": ID_PATTERN, "description": _ENVELOPE_FIELDS[3][2]},
            "occurred_at": {
                "type": "string",
                "format": "date-time",
                "pattern": TIMESTAMP_PATTERN,
                "description": _ENVELOPE_FIELDS[4][2],
            },
            "data": data,
        },
    }


# --- Markdown ---------------------------------------------------------------------------------------------------


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _type_of(schema: dict[str, Any]) -> str:
    types = schema.get("type", "any")
    names = [types] if isinstance(types, str) else list(types)
    if "array" in names and isinstance(schema.get("items"), dict):
        names = [f"array of {_type_of(schema['items'])}" if n == "array" else n for n in names]
    text = " or ".join(names)
    if "format" in schema:
        text += f" ({schema['format']})"
    elif schema.get("pattern") == ID_PATTERN:
        text += " (id)"
    return text


def _constraints(schema: dict[str, Any]) -> str:
    parts = []
    if "enum" in schema:
        parts.append("one of " + ", ".join("`null`" if v is None else f"`{v}`" for v in schema["enum"]))
    if "minimum" in schema:
        parts.append(f"≥ {schema['minimum']}")
    if "maximum" in schema and schema["maximum"] < 10**9:
        parts.append(f"≤ {schema['maximum']}")
    for low, high, unit in (("minLength", "maxLength", "chars"), ("minItems", "maxItems", "items")):
        if low in schema or high in schema:
            if low in schema and high in schema:
                parts.append(f"{schema[low]}-{schema[high]} {unit}")
            else:
                parts.append(f"≤ {schema[high]} {unit}" if high in schema else f"≥ {schema[low]} {unit}")
    if schema.get("uniqueItems"):
        parts.append("unique")
    if "pattern" in schema and "format" not in schema and schema["pattern"] != ID_PATTERN:
        parts.append(f"`{schema['pattern']}`")
    return _cell("; ".join(parts))


def _field_rows(schema: dict[str, Any], prefix: str = "") -> list[str]:
    rows = []
    required = set(schema.get("required", ()))
    for name, prop in schema.get("properties", {}).items():
        path = f"{prefix}{name}"
        mark = "yes" if name in required else ""
        description = _cell(prop.get("description", ""))
        rows.append(f"| `{path}` | {_cell(_type_of(prop))} | {mark} | {description} | {_constraints(prop)} |")
        if "properties" in prop:
            rows += _field_rows(prop, f"{path}.")
        items = prop.get("items")
        if isinstance(items, dict) and "properties" in items:
            rows += _field_rows(items, f"{path}[].")
    return rows


def _event_section(spec: EventTypeSpec) -> list[str]:
    schema = inline_refs(spec.schema)
    lines = [
        f"#### `{spec.type}` v{spec.version}",
        "",
        schema.get("description", ""),
        "",
        f"Schema: `services/common/contract/schemas/{spec.type}.v{spec.version}.json`",
        "",
        "| field | type | required | description | constraints |",
        "|---|---|---|---|---|",
        *_field_rows(schema, "data."),
        "",
    ]
    for number, example in enumerate(spec.examples, 1):
        lines += [f"Example {number}:", "", "```json", json.dumps(example, indent=2, ensure_ascii=False), "```", ""]
    return lines


def render_markdown(contract: Contract) -> str:
    """The event contract for integrators: envelope, keys and topics, and every event type's fields and examples."""
    lines = [
        "# Event contract",
        "",
        f"<!-- {GENERATED_NOTE} -->",
        "",
        "Every message on every topic is one JSON object, the envelope, whose `data` follows the JSON Schema",
        "(draft 2020-12) of its `type` and `schema_version`. Send events to the gateway (`POST /v1/events`,",
        "without `merchant_id`) or, as a trusted integration, straight to the topic with the partition key below.",
        "The same contract as AsyncAPI 3.0: `docs/asyncapi.yaml` (served by the gateway at `/asyncapi.yaml`).",
        "",
        "## Envelope",
        "",
        "| field | type | description |",
        "|---|---|---|",
        *(f"| `{name}` | {kind} | {_cell(text)} |" for name, kind, text in _ENVELOPE_FIELDS),
        "",
        "## Rules for every event",
        "",
        "- **Money** is an integer in minor units plus an ISO 4217 `currency`: 49,75 € is `4975` with `EUR`.",
        "  Amounts are gross (incl. VAT), as German shops show them. A number with a fraction is refused.",
        "- **Times** are ISO 8601 with a timezone (`Z` or `±hh:mm`); a timestamp without one is refused.",
        "  Dates (`YYYY-MM-DD`) are calendar dates in the shop's time zone.",
        "- **Ids** are opaque strings of 1-128 characters: letters, digits and `. _ @ + -`, starting with a letter",
        "  or digit. `event_id` is a UUID; sending an event again with the same `event_id` is safe: a duplicate.",
        "- **Unknown fields are refused**: every object is closed (`additionalProperties: false`), so a typo cannot",
        "  silently drop data. A new optional field means a schema change here first; an incompatible change a new",
        "  `schema_version`.",
        "- **Ordering**: the partition key is `merchant_id:<key fields>`; events with the same key stay in order.",
        "- **Invalid events** are refused by the gateway with HTTP 422 and field paths (`data.lines[0].quantity`);",
        "  on Kafka, a consumer moves them to `<topic>.dlq` with the reason in the `x-dlq-reason` header.",
        "- **Producers** named `shop` are the merchant's own systems writing straight to Kafka; `gateway` is the",
        "  HTTP ingestion API. Consumers are the platform's services reading the topic today.",
        "",
        "## Topics",
        "",
        "| topic | partitions | key | producers | consumers | dead letters | event types |",
        "|---|---|---|---|---|---|---|",
    ]
    for topic in contract.topics.values():
        key = "`merchant_id:" + ":".join(topic.key) + "`"
        dlq = f"`{topic.dlq}` ({DLQ_PARTITIONS} partition)" if topic.consumers else "none (no consumer yet)"
        types = ", ".join(f"`{t}`" for t in topic.event_types)
        lines.append(
            f"| `{topic.name}` | {topic.partitions} | {key} | {', '.join(topic.producers) or '-'} "
            f"| {', '.join(topic.consumers) or '-'} | {dlq} | {types} |"
        )
    dlq_config = ", ".join(f"`{k}={v}`" for k, v in DLQ_CONFIG.items())
    lines += ["", f"Dead-letter topics are configured with {dlq_config}.", ""]
    for topic in contract.topics.values():
        config = ", ".join(f"`{k}={v}`" for k, v in topic.config.items()) or "broker defaults"
        lines += [
            f"### `{topic.name}`",
            "",
            topic.description,
            "",
            f"- partitions: {topic.partitions}; key: `merchant_id:{':'.join(topic.key)}`; config: {config}",
            f"- producers: {', '.join(topic.producers) or '-'}; consumers: {', '.join(topic.consumers) or '-'}",
            "",
        ]
        for versions in topic.event_types.values():
            for spec in versions.values():
                lines += _event_section(spec)
    return "\n".join(lines).rstrip() + "\n"


# --- AsyncAPI ---------------------------------------------------------------------------------------------------


def _message_id(spec: EventTypeSpec) -> str:
    return f"{spec.type.replace('.', '_')}_v{spec.version}"


def _channel_id(topic_name: str) -> str:
    return topic_name.replace(".", "_")


def _kafka_topic_configuration(config: dict[str, str]) -> dict[str, Any]:
    """The kafka binding wants typed values where our YAML (like Kafka's admin API) has strings."""
    typed: dict[str, Any] = {}
    for key, value in config.items():
        if key == "cleanup.policy":
            typed[key] = value.split(",")
        elif value.lstrip("-").isdigit():
            typed[key] = int(value)
        else:
            typed[key] = value
    return typed


def render_asyncapi(contract: Contract) -> dict[str, Any]:
    """An AsyncAPI 3.0.0 document: a channel per topic, a message per event type and version, an operation per
    producer (send) and consumer (receive)."""
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for topic in contract.topics.values():
        channel_id = _channel_id(topic.name)
        key_text = f"merchant_id:{':'.join(topic.key)}"
        messages: dict[str, Any] = {}
        for versions in topic.event_types.values():
            for spec in versions.values():
                schema = inline_refs(spec.schema)
                messages[_message_id(spec)] = {
                    "name": spec.type,
                    "title": f"{spec.type} v{spec.version}",
                    "summary": schema.get("description", ""),
                    "contentType": "application/json",
                    "payload": envelope_schema(spec),
                    "bindings": {
                        "kafka": {
                            "key": {"type": "string", "description": f"`{key_text}`"},
                            "bindingVersion": "0.5.0",
                        }
                    },
                    "examples": [
                        {"name": f"example_{number}", "payload": example}
                        for number, example in enumerate(spec.examples, 1)
                    ],
                }
        channels[channel_id] = {
            "address": topic.name,
            "title": topic.name,
            "description": f"{topic.description} Partition key: `{key_text}`.",
            "messages": messages,
            "bindings": {
                "kafka": {
                    "topic": topic.name,
                    "partitions": topic.partitions,
                    "topicConfiguration": _kafka_topic_configuration(topic.config),
                    "bindingVersion": "0.5.0",
                }
            },
        }
        message_refs = [{"$ref": f"#/channels/{channel_id}/messages/{m}"} for m in messages]
        for action, parties in (("send", topic.producers), ("receive", topic.consumers)):
            for party in parties:
                operations[f"{party}_{action}_{channel_id}"] = {
                    "action": action,
                    "title": f"{party} {'produces to' if action == 'send' else 'consumes'} {topic.name}",
                    "channel": {"$ref": f"#/channels/{channel_id}"},
                    "messages": message_refs,
                }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Retention platform event contract",
            "version": "1.0.0",
            "description": "Kafka topics and event types of the customer-retention platform. " + GENERATED_NOTE,
        },
        "defaultContentType": "application/json",
        "servers": {
            "production": {
                "host": "kafka:9092",
                "protocol": "kafka",
                "description": "Apache Kafka in production; the address comes from KAFKA_BOOTSTRAP_SERVERS.",
            },
            "development": {
                "host": "127.0.0.1:9092",
                "protocol": "kafka",
                "description": "The dev broker `retention up` starts.",
            },
        },
        "channels": channels,
        "operations": operations,
    }


def asyncapi_yaml(contract: Contract) -> str:
    return yaml.safe_dump(render_asyncapi(contract), sort_keys=False, allow_unicode=True, width=120)


def write_docs(out_dir: Path, contract: Contract | None = None) -> list[Path]:
    """Write `event-contract.md` and `asyncapi.yaml` into `out_dir`; returns the paths written."""
    from services.common.contract.registry import load_contract

    contract = contract or load_contract()
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / "event-contract.md", out_dir / "asyncapi.yaml"]
    written[0].write_text(render_markdown(contract), encoding="utf-8")
    written[1].write_text(asyncapi_yaml(contract), encoding="utf-8")
    return written
