"""A compiled yes/no check for the JSON Schema subset the contract uses: the hot path's fast lane.

jsonschema walks a schema dynamically (~400 µs for an order); a compiled closure tree answers "valid?" in
a fraction of that. It is never laxer than jsonschema: a "no" goes to jsonschema for the field errors,
and jsonschema has the last word. Keywords it does not know make compilation fail instead of being
skipped, so a schema can never be checked less strictly than it reads.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator, FormatChecker, validators

Check = Callable[[Any], bool]

#: Annotations: they document, they do not constrain.
_ANNOTATIONS = frozenset({"$schema", "$id", "$defs", "$comment", "title", "description", "examples", "default"})


def _is_integer(_checker: Any, instance: Any) -> bool:
    return isinstance(instance, int) and not isinstance(instance, bool)


#: Draft 2020-12, except that `integer` means a JSON integer: 4975.0 is not an amount in minor units.
ContractValidator = validators.extend(
    Draft202012Validator,
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_integer),
)

_TYPES: dict[str, Check] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "null": lambda v: v is None,
}


def _date_time(value: str) -> bool:
    return datetime.fromisoformat(value).tzinfo is not None


def _date(value: str) -> bool:
    return bool(date.fromisoformat(value))


def _uuid(value: str) -> bool:
    return bool(uuid.UUID(value))


def _uri(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _email(value: str) -> bool:
    return value.count("@") == 1


_FORMATS: dict[str, Callable[[str], bool]] = {
    "date-time": _date_time,
    "date": _date,
    "uuid": _uuid,
    "uri": _uri,
    "email": _email,
}


def format_checker() -> FormatChecker:
    """The same format rules for jsonschema (which ignores formats unless given a checker)."""
    checker = FormatChecker(formats=())
    for name, check in _FORMATS.items():
        checker.checks(name, raises=ValueError)(lambda v, check=check: not isinstance(v, str) or check(v))
    return checker


def _format(name: str) -> Check:
    check = _FORMATS[name]

    def conforms(value: Any) -> bool:
        if not isinstance(value, str):
            return True
        try:
            return check(value)
        except ValueError:
            return False

    return conforms


def compile_schema(schema: dict[str, Any]) -> Check:
    """A predicate equivalent to (or stricter than) validating `schema`, which must have no `$ref`s left."""
    unknown = set(schema) - _ANNOTATIONS - _KEYWORDS.keys()
    if unknown:
        raise ValueError(f"the fast checker does not support {sorted(unknown)}; extend fastcheck.py first")
    checks = [_KEYWORDS[key](schema[key], schema) for key in schema if key in _KEYWORDS]
    checks = [c for c in checks if c is not None]
    if len(checks) == 1:
        return checks[0]

    def all_of(value: Any) -> bool:
        for check in checks:  # a plain loop: measurably faster than all(<generator>) on this path
            if not check(value):
                return False
        return True

    return all_of


def _type(expected: str | list[str], _schema: dict[str, Any]) -> Check:
    names = [expected] if isinstance(expected, str) else expected
    tests = [_TYPES[name] for name in names]
    return tests[0] if len(tests) == 1 else lambda v: any(t(v) for t in tests)


def _enum(values: list[Any], _schema: dict[str, Any]) -> Check:
    allowed = [(type(v), v) for v in values]  # typed: True must not pass for 1, nor 1 for True
    return lambda v: (type(v), v) in allowed


def _pattern(pattern: str, _schema: dict[str, Any]) -> Check:
    search = re.compile(pattern).search
    return lambda v: not isinstance(v, str) or search(v) is not None


def _bound(compare: Callable[[Any, Any], bool], applies: Check) -> Callable[[Any, dict[str, Any]], Check]:
    def build(limit: Any, _schema: dict[str, Any]) -> Check:
        return lambda v: not applies(v) or compare(v, limit)

    return build


def _properties(properties: dict[str, Any], schema: dict[str, Any]) -> Check:
    compiled = [(name, compile_schema(sub)) for name, sub in properties.items()]
    required = tuple(schema.get("required", ()))
    closed = schema.get("additionalProperties") is False
    known = frozenset(properties)

    def check(v: Any) -> bool:
        if not isinstance(v, dict):
            return True
        if closed and not known.issuperset(v):
            return False
        for name in required:
            if name not in v:
                return False
        for name, sub in compiled:
            if name in v and not sub(v[name]):
                return False
        return True

    return check


def _handled_by_properties(value: Any, schema: dict[str, Any]) -> Check | None:
    if "properties" not in schema:
        raise ValueError("`required` and `additionalProperties` are only supported next to `properties`")
    if "additionalProperties" in schema and schema["additionalProperties"] is not False:
        raise ValueError("only `additionalProperties: false` is supported")
    return None


def _items(items: dict[str, Any], _schema: dict[str, Any]) -> Check:
    sub = compile_schema(items)

    def check(v: Any) -> bool:
        if isinstance(v, list):
            for item in v:
                if not sub(item):
                    return False
        return True

    return check


def _unique(flag: bool, _schema: dict[str, Any]) -> Check | None:
    if not flag:
        return None

    def check(v: Any) -> bool:
        if not isinstance(v, list):
            return True
        try:
            return len({(type(item), item) for item in v}) == len(v)
        except TypeError:  # unhashable items: let jsonschema decide
            return False

    return check


def _format_keyword(name: str, _schema: dict[str, Any]) -> Check:
    if name not in _FORMATS:
        raise ValueError(f"format {name!r} has no checker")
    return _format(name)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


_KEYWORDS: dict[str, Callable[[Any, dict[str, Any]], Check | None]] = {
    "type": _type,
    "enum": _enum,
    "pattern": _pattern,
    "format": _format_keyword,
    "minimum": _bound(lambda v, limit: v >= limit, _is_number),
    "maximum": _bound(lambda v, limit: v <= limit, _is_number),
    "minLength": _bound(lambda v, limit: len(v) >= limit, lambda v: isinstance(v, str)),
    "maxLength": _bound(lambda v, limit: len(v) <= limit, lambda v: isinstance(v, str)),
    "minItems": _bound(lambda v, limit: len(v) >= limit, lambda v: isinstance(v, list)),
    "maxItems": _bound(lambda v, limit: len(v) <= limit, lambda v: isinstance(v, list)),
    "uniqueItems": _unique,
    "properties": _properties,
    "required": _handled_by_properties,
    "additionalProperties": _handled_by_properties,
    "items": _items,
}
