"""Discount codes: unguessable, readable aloud, single-use (the `codes` table's primary key)."""

from __future__ import annotations

import secrets

#: No 0/O, 1/I/L: customers type these codes at checkout.
_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


def new_code(prefix: str = "LOY") -> str:
    """~59 bits of randomness: guessing one of a merchant's codes is hopeless."""
    return prefix + "-" + "".join(secrets.choice(_ALPHABET) for _ in range(12))
