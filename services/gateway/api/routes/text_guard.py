"""Text no store of the platform can keep, refused at the door: a JSON body with a NUL character or a lone surrogate
anywhere (in a string or a key, however deep) is a 422 that names the place.

PostgreSQL's `text` and `jsonb` cannot hold U+0000, and a lone surrogate (`"\\ud800"`) is no Unicode text at all: a
service failed with a 500 on either (the gateway itself on a lone surrogate in free-form JSON), and an event with a
NUL character stopped the services' consumers. Pydantic refuses lone surrogates in declared string fields, but
neither NUL characters nor anything inside free-form JSON (a segment's condition tree, a carrier's payload, an
event's data).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError

MESSAGE = "NUL characters and lone surrogates cannot be stored"


def storable(text: str) -> bool:
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        return False
    return True


def unstorable_at(value: Any, path: tuple[str | int, ...] = ()) -> tuple[str | int, ...] | None:
    """Where in a parsed JSON value the first string or key that cannot be stored is; None if there is none."""
    if isinstance(value, str):
        return None if storable(value) else path
    if isinstance(value, dict):
        for key, item in value.items():
            found = (*path, key) if not storable(key) else unstorable_at(item, (*path, key))
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = unstorable_at(item, (*path, index))
            if found is not None:
                return found
    return None


def possibly_unstorable(body: bytes) -> bool:
    """Whether a JSON body may hold either once parsed. UTF-8 JSON spells both only as escapes (a raw control
    character is no JSON), but `json.loads` also decodes raw surrogate bytes (it decodes with surrogatepass) and
    takes UTF-16/32 bodies, whose escapes these bytes do not spell: both are no strict UTF-8 or have NUL bytes."""
    if b"\x00" in body or b"\\u0000" in body or b"\\ud" in body or b"\\uD" in body:
        return True
    try:
        body.decode("utf-8")  # strict: an encoded surrogate (ED A0..BF ..) is no UTF-8
    except UnicodeDecodeError:
        return True
    return False


async def storable_body(request: Request) -> None:
    """422 for a JSON body with text that cannot be stored; anything else (no body, no JSON) is the route's to judge."""
    body = await request.body()
    if not possibly_unstorable(body):
        return
    try:
        parsed = json.loads(body)
    except ValueError:
        return
    path = unstorable_at(parsed)
    if path is not None:
        raise RequestValidationError([{"type": "unstorable_text", "loc": ("body", *printable(path)), "msg": MESSAGE}])


def printable(path: tuple[str | int, ...]) -> tuple[str | int, ...]:
    """The path with a key that cannot be stored spelled as its JSON escapes, so the answer itself can be sent."""
    return tuple(part if isinstance(part, int) or storable(part) else json.dumps(part)[1:-1] for part in path)


#: For a router's or route's `dependencies`.
STORABLE_BODY = Depends(storable_body)
