"""API key format: checksum, prefix, hash, constant-time comparison."""

from __future__ import annotations

import pytest

from services.gateway.core.security import hash_key, issue_key, key_prefix, matches, well_formed


def test_issued_key_is_well_formed_and_only_its_hash_is_kept() -> None:
    key = issue_key("live")
    assert key.token.startswith("rk_live_") and well_formed(key.token)
    assert key.hash == hash_key(key.token) and key.token not in key.hash
    assert key.prefix == key_prefix(key.token) and key.token.startswith(key.prefix)
    assert matches(key.token, key.hash)


def test_keys_are_unique() -> None:
    assert len({issue_key("test").token for _ in range(200)}) == 200


@pytest.mark.parametrize(
    "mutate",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # checksum mismatch
        lambda t: t[:12] + ("x" if t[12] != "x" else "y") + t[13:],  # a typo in the body
        lambda t: t[:-3],  # truncated
        lambda t: t.replace("rk_test_", "rk_prod_"),  # unknown environment
        lambda t: "",
        lambda t: "Bearer " + t,
    ],
)
def test_malformed_keys_are_rejected_without_lookup(mutate) -> None:
    assert not well_formed(mutate(issue_key("test").token))


def test_unknown_environment_cannot_be_issued() -> None:
    with pytest.raises(ValueError):
        issue_key("staging")
