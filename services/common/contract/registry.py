"""The event contract as data: topics, versioned JSON Schemas and examples, and validation at the edge."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

import orjson
import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError as SchemaError
from jsonschema.exceptions import best_match
from pydantic import ValidationError

from services.common.contract.fastcheck import Check, ContractValidator, compile_schema, format_checker
from services.common.envelope import ID_PATTERN, Envelope

CONTRACT_DIR = Path(__file__).parent
#: Dead-letter topics: one partition (they are read rarely, by people) and a month to look at them.
DLQ_PARTITIONS = 1
DLQ_CONFIG = {"retention.ms": "2592000000", "cleanup.policy": "delete"}
_TOPIC_KEYS = {"name", "description", "partitions", "key", "producers", "consumers", "config", "events"}


class FieldError(NamedTuple):
    path: str
    message: str


class ContractViolation(ValueError):
    """An event that breaks the contract; `errors` says where (paths like `data.lines[0].quantity`)."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__(self.reason())

    def reason(self) -> str:
        """All errors on one line: fit for a DLQ header, a log line or a problem detail."""
        parts = (f"{e.path}: {e.message}" if e.path else e.message for e in self.errors)
        return "; ".join(parts).replace("\n", " ")


@dataclass(frozen=True)
class EventTypeSpec:
    type: str
    version: int
    schema: dict[str, Any]
    examples: tuple[dict[str, Any], ...]
    topic: str


@dataclass(frozen=True)
class TopicSpec:
    name: str
    description: str
    partitions: int
    key: tuple[str, ...]
    producers: tuple[str, ...]
    consumers: tuple[str, ...]
    config: dict[str, str]
    event_types: dict[str, dict[int, EventTypeSpec]]

    @property
    def dlq(self) -> str:
        return f"{self.name}.dlq"


_FORMAT_HINTS = {
    "date-time": "must be an ISO 8601 date-time with a timezone (Z or ±hh:mm), e.g. 2025-03-14T09:21:07Z",
    "date": "must be a date YYYY-MM-DD",
    "uuid": "must be a UUID",
    "uri": "must be an absolute http(s) URL",
    "email": "must be an email address",
}


def inline_refs(schema: Any, defs: dict[str, Any] | None = None) -> Any:
    """The schema with local `#/$defs/...` references replaced by their targets (sibling keywords win).

    Validators skip reference resolution on the hot path, and AsyncAPI payloads get self-contained schemas.
    """
    if defs is None and isinstance(schema, dict):
        defs = schema.get("$defs", {})
    if isinstance(schema, dict):
        out: dict[str, Any] = {}
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            out.update(inline_refs(defs[ref.removeprefix("#/$defs/")], defs))
        for key, value in schema.items():
            if key not in ("$ref", "$defs"):
                out[key] = inline_refs(value, defs)
        return out
    if isinstance(schema, list):
        return [inline_refs(item, defs) for item in schema]
    return schema


def _path(prefix: str, parts: Any) -> str:
    path = prefix
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else str(part)
    return path


def _schema_errors(errors: Iterator[SchemaError], prefix: str) -> list[FieldError]:
    """jsonschema errors as field errors that point at the field itself (the missing or unexpected one)."""
    found: list[FieldError] = []
    for error in errors:
        if error.validator in ("anyOf", "oneOf") and error.context:
            error = best_match(error.context) or error
        path = _path(prefix, error.absolute_path)
        instance = error.instance
        if error.validator == "required" and isinstance(instance, dict):
            found += [FieldError(_path(path, [k]), "is required") for k in error.validator_value if k not in instance]
        elif error.validator == "additionalProperties" and isinstance(instance, dict):
            known = error.schema.get("properties", {})
            found += [
                FieldError(_path(path, [k]), "is not allowed here (unknown field)") for k in instance if k not in known
            ]
        elif error.validator in ("format", "pattern") and error.schema.get("format") in _FORMAT_HINTS:
            found.append(FieldError(path, f"{instance!r} {_FORMAT_HINTS[error.schema['format']]}"))
        elif error.validator == "pattern" and error.validator_value == ID_PATTERN:
            found.append(FieldError(path, f"{instance!r} is not a valid id (1-128 of A-Z a-z 0-9 . _ @ + -)"))
        else:
            found.append(FieldError(path, error.message))
    return list(dict.fromkeys(found))  # `required` reports every missing key once per missing key: dedupe


def _pydantic_errors(exc: ValidationError) -> list[FieldError]:
    errors = []
    for e in exc.errors(include_url=False):
        message = e["msg"]
        if e["loc"] == ("occurred_at",) and e["type"] != "missing":
            message = f"{e['input']!r} {_FORMAT_HINTS['date-time']}"
        errors.append(FieldError(_path("", e["loc"]), message))
    return errors


def _strict_envelope_types(obj: dict[str, Any]) -> list[FieldError]:
    """JSON types pydantic's lax mode would coerce (`"1"` → 1, epoch seconds → datetime): refuse them."""
    errors = []
    version = obj.get("schema_version", 1)
    if isinstance(version, bool) or not isinstance(version, int):
        errors.append(FieldError("schema_version", f"{version!r} must be an integer"))
    occurred_at = obj.get("occurred_at")
    if "occurred_at" in obj and not isinstance(occurred_at, str | datetime):
        errors.append(FieldError("occurred_at", f"{occurred_at!r} {_FORMAT_HINTS['date-time']}"))
    return errors


class Contract:
    """Every topic and event type; validators compiled once, because validation is on the hot path."""

    def __init__(self, topics: dict[str, TopicSpec]) -> None:
        self.topics = topics
        self._specs: dict[str, dict[int, EventTypeSpec]] = {}
        self._topic_of: dict[str, TopicSpec] = {}
        self._validators: dict[tuple[str, int], tuple[Check, Draft202012Validator]] = {}
        checker = format_checker()
        for topic in topics.values():
            for event_type, versions in topic.event_types.items():
                if event_type in self._topic_of:
                    raise ValueError(f"{event_type} is declared on {self._topic_of[event_type].name} and {topic.name}")
                self._topic_of[event_type] = topic
                self._specs[event_type] = versions
                for version, spec in versions.items():
                    Draft202012Validator.check_schema(spec.schema)
                    missing_key = [k for k in topic.key if k not in spec.schema.get("required", ())]
                    if missing_key:
                        raise ValueError(f"{event_type} v{version} must require the key fields {missing_key}")
                    inlined = inline_refs(spec.schema)
                    self._validators[(event_type, version)] = (
                        compile_schema(inlined),
                        ContractValidator(inlined, format_checker=checker),
                    )

    def topic_for(self, event_type: str) -> TopicSpec:
        try:
            return self._topic_of[event_type]
        except KeyError:
            raise ContractViolation([FieldError("type", self._unknown_type(event_type))]) from None

    def validate(self, raw: bytes | str | dict[str, Any]) -> Envelope:
        """The envelope, or a ContractViolation listing every error found (envelope and data)."""
        obj = self._decode(raw)
        errors = _strict_envelope_types(obj)
        envelope: Envelope | None = None
        try:
            envelope = Envelope.model_validate(obj)
        except ValidationError as exc:
            strict_paths = {e.path for e in errors}
            errors += [e for e in _pydantic_errors(exc) if e.path not in strict_paths]
        bad_fields = {e.path for e in errors}
        event_type, version, data = obj.get("type"), obj.get("schema_version", 1), obj.get("data")
        if isinstance(event_type, str) and "type" not in bad_fields:
            validator, problem = self._validator(event_type, version)
            if problem and "schema_version" not in bad_fields:
                errors.append(problem)
            if validator is not None and isinstance(data, dict):
                errors += self._data_errors(validator, data)
        if errors or envelope is None:
            raise ContractViolation(errors or [FieldError("", "invalid event")])
        return envelope

    def validate_data(self, event_type: str, version: int, data: dict[str, Any]) -> None:
        validator, problem = self._validator(event_type, version)
        if problem:
            raise ContractViolation([problem])
        assert validator is not None
        errors = self._data_errors(validator, data)
        if errors:
            raise ContractViolation(errors)

    def partition_key(self, envelope: Envelope) -> bytes:
        """`merchant_id:<key fields>`: one customer's (or order's) events share a partition, so stay in order."""
        topic = self.topic_for(envelope.type)
        try:
            values = [str(envelope.data[field]) for field in topic.key]
        except KeyError as exc:
            raise ContractViolation([FieldError(f"data.{exc.args[0]}", "is required (partition key)")]) from None
        return ":".join([envelope.merchant_id, *values]).encode()

    def event_types(self) -> list[EventTypeSpec]:
        return [
            spec
            for topic in self.topics.values()
            for versions in topic.event_types.values()
            for spec in versions.values()
        ]

    def topics_to_create(self) -> list[tuple[str, int, dict[str, str]]]:
        topics = [(t.name, t.partitions, dict(t.config)) for t in self.topics.values()]
        return topics + [(t.dlq, DLQ_PARTITIONS, dict(DLQ_CONFIG)) for t in self.topics.values() if t.consumers]

    @staticmethod
    def _data_errors(validator: tuple[Check, Draft202012Validator], data: dict[str, Any]) -> list[FieldError]:
        fast, thorough = validator
        if fast(data):  # the common case costs a compiled check; only bad data pays for jsonschema's messages
            return []
        return _schema_errors(thorough.iter_errors(data), "data")

    def _validator(
        self, event_type: str, version: Any
    ) -> tuple[tuple[Check, Draft202012Validator] | None, FieldError | None]:
        validator = self._validators.get((event_type, version))
        if validator is not None:
            return validator, None
        if event_type not in self._specs:
            return None, FieldError("type", self._unknown_type(event_type))
        known = ", ".join(str(v) for v in sorted(self._specs[event_type]))
        return None, FieldError("schema_version", f"{event_type} has no version {version!r} (known: {known})")

    def _unknown_type(self, event_type: str) -> str:
        return f"unknown event type {event_type!r}; known types: {', '.join(sorted(self._specs))}"

    @staticmethod
    def _decode(raw: bytes | str | dict[str, Any]) -> dict[str, Any]:
        if isinstance(raw, bytes | bytearray | str):
            escaped_nul = (b"\\u0000" if isinstance(raw, bytes | bytearray) else "\\u0000") in raw
            try:
                raw = orjson.loads(raw)  # every consumed event passes here: the fast parser pays off
            except (orjson.JSONDecodeError, UnicodeDecodeError) as exc:
                raise ContractViolation([FieldError("", f"malformed JSON: {exc}")]) from None
            if escaped_nul and (path := _nul_path(raw)) is not None:
                # PostgreSQL stores no NUL character in text or jsonb: such an event could never be applied, and
                # retrying it would stop its consumer for every merchant. It is invalid here, so it is dead-lettered.
                raise ContractViolation([FieldError(path, "text must not contain the NUL character (\\u0000)")])
        if not isinstance(raw, dict):
            raise ContractViolation([FieldError("", f"an event must be a JSON object, not {type(raw).__name__}")])
        return raw


def _nul_path(value: Any, path: str = "") -> str | None:
    """Where a string (or key) holding a NUL character is, if anywhere."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            if "\x00" in key:
                return here
            if (found := _nul_path(item, here)) is not None:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            if (found := _nul_path(item, f"{path}[{i}]")) is not None:
                return found
    return None


def _load_topic(path: Path) -> TopicSpec:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    unknown = set(doc) - _TOPIC_KEYS
    if unknown or doc.get("name") != path.stem:
        raise ValueError(f"{path.name}: unknown keys {sorted(unknown)} or name != file name")
    event_types: dict[str, dict[int, EventTypeSpec]] = {}
    for event_type, versions in (doc.get("events") or {}).items():
        event_types[event_type] = {}
        for version, entry in versions.items():
            schema = json.loads((CONTRACT_DIR / "schemas" / entry["schema"]).read_text(encoding="utf-8"))
            examples = tuple(
                json.loads((CONTRACT_DIR / "examples" / name).read_text(encoding="utf-8")) for name in entry["examples"]
            )
            event_types[event_type][int(version)] = EventTypeSpec(
                event_type, int(version), schema, examples, doc["name"]
            )
    return TopicSpec(
        name=doc["name"],
        description=doc["description"],
        partitions=int(doc["partitions"]),
        key=tuple(doc["key"]),
        producers=tuple(doc.get("producers") or ()),
        consumers=tuple(doc.get("consumers") or ()),
        config={str(k): str(v) for k, v in (doc.get("config") or {}).items()},
        event_types=event_types,
    )


@cache
def load_contract() -> Contract:
    """The contract from the YAML and JSON files beside this module, loaded and compiled once per process."""
    specs = [_load_topic(path) for path in sorted((CONTRACT_DIR / "topics").glob("*.yaml"))]
    # Input topics (written through the gateway) first, then the services' own topics: the reading order of the docs.
    specs.sort(key=lambda t: ("gateway" not in t.producers, t.name))
    return Contract({t.name: t for t in specs})
