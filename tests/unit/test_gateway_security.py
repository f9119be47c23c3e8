"""API key format: checksum, prefix, hash, constant-time comparison; key status and rotation expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.gateway.core.security import (
    MAX_OVERLAP,
    PREFIX_RANDOM_CHARS,
    RANDOM_LENGTH,
    hash_key,
    issue_key,
    key_environment,
    key_prefix,
    key_status,
    matches,
    rotation_expiry,
    well_formed,
)

NOW = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)


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


@pytest.mark.parametrize("environment", ["live", "test"])
def test_the_prefix_names_the_environment_and_keeps_most_of_the_secret_back(environment: str) -> None:
    key = issue_key(environment)
    assert key.prefix.startswith(f"rk_{environment}_") and key_environment(key.prefix) == environment
    assert key_environment(key.token) == environment
    secret = key.token[len(f"rk_{environment}_") :]
    assert len(key.prefix) == len(f"rk_{environment}_") + PREFIX_RANDOM_CHARS
    assert secret[PREFIX_RANDOM_CHARS:RANDOM_LENGTH] not in key.prefix  # the stored prefix omits 16 random chars


def test_a_key_matches_only_its_own_hash() -> None:
    one, other = issue_key("live"), issue_key("live")
    assert not matches(one.token, other.hash) and not matches(other.token, one.hash)
    assert not matches(one.token, one.hash.upper())  # the exact stored digest, nothing similar


def test_revoked_wins_over_expired_and_expiry_is_inclusive() -> None:
    assert key_status(None, None, NOW) == "active"
    assert key_status(None, NOW + timedelta(seconds=1), NOW) == "active"
    assert key_status(None, NOW, NOW) == "expired"
    assert key_status(NOW, NOW - timedelta(days=1), NOW) == "revoked"
    assert key_status(NOW + timedelta(days=1), None, NOW) == "revoked"  # a revocation counts whenever it was


def test_a_rotated_key_works_for_the_overlap_but_never_past_its_own_expiry() -> None:
    assert rotation_expiry(NOW, None, timedelta(hours=24)) == NOW + timedelta(hours=24)
    assert rotation_expiry(NOW, NOW + timedelta(hours=2), timedelta(hours=24)) == NOW + timedelta(hours=2)
    assert rotation_expiry(NOW, NOW + timedelta(days=90), timedelta(hours=24)) == NOW + timedelta(hours=24)
    assert rotation_expiry(NOW, None, timedelta(0)) == NOW
    assert rotation_expiry(NOW, None, MAX_OVERLAP) == NOW + timedelta(days=30)
    for overlap in (MAX_OVERLAP + timedelta(seconds=1), timedelta(seconds=-1)):
        with pytest.raises(ValueError):
            rotation_expiry(NOW, None, overlap)
