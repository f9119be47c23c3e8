"""The profile fold: the shop's customer record is a snapshot, and a late, older snapshot changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.common.envelope import new_envelope
from services.segments.domain.profiles import Profile, apply_event, from_doc, to_doc
from tests.segments_service import customer

pytestmark = pytest.mark.unit

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)


def record(at: datetime, **changes) -> object:
    kind, data = customer("c1", kind="customer.updated")
    data.update(changes)
    return new_envelope(kind, "m1", {k: v for k, v in data.items() if v is not None}, occurred_at=at)


def test_an_absent_address_or_birthday_in_a_newer_record_removes_them() -> None:
    first = apply_event(Profile("c1"), record(T0, birthday="1990-03-15"))
    assert (first.city, first.birthday is not None) == ("Dortmund", True)
    moved = apply_event(first, record(T0 + timedelta(days=1), address=None, birthday=None))
    assert (moved.city, moved.postcode, moved.country, moved.birthday) == (None, None, None, None)


def test_an_older_record_arriving_late_does_not_overwrite_a_newer_one() -> None:
    newer = apply_event(Profile("c1"), record(T0, address={"city": "Köln", "postcode": "50667", "country": "DE"}))
    late = apply_event(newer, record(T0 - timedelta(hours=1), email="old@example.de"))
    assert late == newer and late.city == "Köln"
    assert from_doc("c1", to_doc(late)) == late  # and it survives storage
