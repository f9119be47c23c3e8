"""The gateway's OpenAPI document (issue #7): OpenAPI 3.1, and an example for every operation: one for its request body
if it takes one, and one for each of its success answers that has a body (a 204 has none). Every JSON example must
be valid against the schema next to it, so the examples cannot drift from what the routes take and give.

The document is built the way the gateway builds it (`build_service_app(SPEC)`), without starting anything.
"""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator

from services.common.service_app import build_service_app
from services.common.settings import Settings
from services.gateway.bootstrap import SPEC


def gateway_openapi() -> dict[str, Any]:
    settings = Settings(KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:9", DATABASE_URL="postgresql://unused/unused")
    return build_service_app(SPEC, settings).openapi()


DOCUMENT = gateway_openapi()
OPERATIONS = [(method.upper(), path) for path, item in DOCUMENT["paths"].items() for method in item]


def operation(method: str, path: str) -> dict[str, Any]:
    return DOCUMENT["paths"][path][method.lower()]


def resolved(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = DOCUMENT["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def examples_of(media: dict[str, Any]) -> list[Any]:
    """What a media type shows as examples: its own `example` and `examples`, else its schema's."""
    found = [media["example"]] if "example" in media else []
    found += [example["value"] for example in media.get("examples", {}).values() if "value" in example]
    if found:
        return found
    schema = resolved(media.get("schema", {}))
    return ([schema["example"]] if "example" in schema else []) + list(schema.get("examples", []))


def invalid(example: Any, schema: dict[str, Any]) -> list[str]:
    """Why `example` does not match `schema` (its `#/components/...` references resolved in this document).

    A required property that may be null and is missing is no mistake of the example: FastAPI drops every null from
    the examples of the document it generates (https://github.com/fastapi/fastapi/issues/5559).
    """
    validator = Draft202012Validator({**schema, "components": DOCUMENT["components"]})
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
        for e in validator.iter_errors(example)
        if not (e.validator == "required" and all(nullable(e.schema, name) for name in missing(e)))
    ]


def missing(error: Any) -> list[str]:
    return [name for name in error.validator_value if name not in error.instance]


def nullable(schema: dict[str, Any], name: str) -> bool:
    options = resolved(schema.get("properties", {}).get(name, {}))
    alternatives = options.get("anyOf", options.get("oneOf", [options]))
    return any(o.get("type") == "null" or "null" in (o.get("type") or []) for o in map(resolved, alternatives))


def test_the_document_is_openapi_3_1() -> None:
    assert DOCUMENT["openapi"].startswith("3.1.")


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_every_operation_has_valid_examples(method: str, path: str) -> None:
    op = operation(method, path)
    missing, wrong = [], []
    shown: list[tuple[str, dict[str, Any]]] = []
    if "requestBody" in op:
        shown += [(f"request body ({media_type})", media) for media_type, media in op["requestBody"]["content"].items()]
    successes = {status: response for status, response in op["responses"].items() if status.startswith("2")}
    assert successes, "no success answer documented"
    for status, response in successes.items():
        if status == "204":
            assert not response.get("content"), "a 204 has no body"
            continue
        assert response.get("content"), f"{status}: its body is not documented"
        shown += [(f"{status} answer ({media_type})", media) for media_type, media in response["content"].items()]
    for where, media in shown:
        examples = examples_of(media)
        if not examples:
            missing.append(where)
        wrong += [f"{where}: {reason}" for example in examples for reason in invalid(example, media.get("schema", {}))]
    assert not missing, f"no example for the {', '.join(missing)}"
    assert not wrong, "examples not matching their schema:\n" + "\n".join(wrong)


def test_every_path_is_checked() -> None:
    # Guards the parametrisation itself: a document without paths would pass every test above vacuously.
    assert len(OPERATIONS) >= 70 and all(path.startswith("/") for _, path in OPERATIONS)
