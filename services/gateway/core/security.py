"""API keys: shown once, stored as a hash, found by prefix, compared in constant time.

Format: `rk_<env>_<24 random base62 chars><6-char checksum>`. The checksum lets us reject a mistyped
or truncated key without a database lookup; the prefix (`rk_<env>_` + 8 chars) is stored in clear
for lookup and for humans to recognise a key in a list.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

ALPHABET = string.digits + string.ascii_letters
RANDOM_LENGTH = 24
CHECKSUM_LENGTH = 6
PREFIX_RANDOM_CHARS = 8
ENVIRONMENTS = ("live", "test")
#: How long a rotated key keeps working next to its replacement, unless asked otherwise; and at most.
DEFAULT_OVERLAP = timedelta(hours=24)
MAX_OVERLAP = timedelta(days=30)

KeyStatus = Literal["active", "expired", "revoked"]


@dataclass(frozen=True)
class IssuedKey:
    token: str
    prefix: str
    hash: str


def _base62(number: int, width: int) -> str:
    chars = []
    for _ in range(width):
        number, rem = divmod(number, 62)
        chars.append(ALPHABET[rem])
    return "".join(reversed(chars))


def _checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode()), CHECKSUM_LENGTH)


def hash_key(token: str) -> str:
    # Keys carry ~143 bits of randomness, so a fast hash is enough (no password stretching needed).
    return hashlib.sha256(token.encode()).hexdigest()


def issue_key(environment: str = "live") -> IssuedKey:
    if environment not in ENVIRONMENTS:
        raise ValueError(f"environment must be one of {ENVIRONMENTS}")
    body = f"rk_{environment}_" + "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_LENGTH))
    token = body + _checksum(body)
    return IssuedKey(token=token, prefix=key_prefix(token), hash=hash_key(token))


def key_prefix(token: str) -> str:
    env_part = token.split("_", 2)
    return f"rk_{env_part[1]}_{env_part[2][:PREFIX_RANDOM_CHARS]}"


def well_formed(token: str) -> bool:
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != "rk" or parts[1] not in ENVIRONMENTS:
        return False
    rest = parts[2]
    if len(rest) != RANDOM_LENGTH + CHECKSUM_LENGTH or any(c not in ALPHABET for c in rest):
        return False
    return hmac.compare_digest(_checksum(token[:-CHECKSUM_LENGTH]), token[-CHECKSUM_LENGTH:])


def matches(token: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_key(token), stored_hash)


def key_environment(prefix: str) -> str:
    """`live` or `test`, from a key or its prefix (`rk_live_…`)."""
    return prefix.split("_", 2)[1]


def key_status(revoked_at: datetime | None, expires_at: datetime | None, now: datetime) -> KeyStatus:
    """Revoked wins over expired; a key is expired from the instant `expires_at` on."""
    if revoked_at is not None:
        return "revoked"
    if expires_at is not None and expires_at <= now:
        return "expired"
    return "active"


def rotation_expiry(now: datetime, expires_at: datetime | None, overlap: timedelta) -> datetime:
    """When a rotated key stops working: after the overlap window, or its own earlier expiry."""
    if not timedelta(0) <= overlap <= MAX_OVERLAP:
        raise ValueError(f"overlap must be between 0 and {MAX_OVERLAP}")
    end = now + overlap
    return end if expires_at is None else min(expires_at, end)
