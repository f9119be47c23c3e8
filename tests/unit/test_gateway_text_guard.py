"""The gateway refuses text no service could store (NUL, lone surrogates) before it reaches anyone."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.gateway.api.routes.text_guard import possibly_unstorable, unstorable_at

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "body",
    [
        b'{"name": "Espresso\\u0000"}',
        b'{"name": "\\ud800"}',
        b'{"name": "\\uDFFF"}',
        '{"name": "Kaffee"}'.encode("utf-16"),  # json.loads takes UTF-16 bodies too
        b'{"name": "\xed\xa0\x80"}',  # a raw encoded surrogate: not UTF-8, but json.loads passes it through
    ],
)
def test_every_spelling_of_unstorable_text_is_caught_by_the_cheap_check(body: bytes) -> None:
    assert possibly_unstorable(body)


def test_ordinary_german_text_skips_the_walk() -> None:
    body = json.dumps({"name": "Kaffeerösterei Müller", "note": "Lieferung an die Straße"}, ensure_ascii=False)
    assert not possibly_unstorable(body.encode())


@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        st.text() | st.integers(),
        lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(), kids, max_size=3),
    )
)
def test_whenever_the_walk_would_refuse_the_cheap_check_says_so(value) -> None:
    """The cheap check only decides whether to walk: it may say yes too often, never too rarely."""
    for ascii_only in (True, False):
        body = json.dumps({"v": value}, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
        if unstorable_at(json.loads(body)) is not None:
            assert possibly_unstorable(body)
