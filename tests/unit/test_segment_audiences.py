"""Retargeting audiences: the platforms' published normalisation examples, known hash vectors, consent as the gate."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.segments.domain.audiences import (
    FORMATS,
    AudienceMember,
    csv_lines,
    delta,
    delta_payload,
    eligible,
    header,
    normalise_city,
    normalise_country,
    normalise_email,
    normalise_name,
    normalise_phone,
    normalise_postcode,
    row,
    row_dict,
    sha256_hex,
)

pytestmark = pytest.mark.unit


def member(cid: str = "c1", **kw: str | None) -> AudienceMember:
    fields = dict(
        email="Jürgen.Müller@Example.de",
        phone="0231 1234567",
        first_name="Jürgen",
        last_name="Müller",
        postcode="44135",
        city="Dortmund",
        country="DE",
    )
    fields.update(kw)
    return AudienceMember(customer_id=cid, **fields)  # type: ignore[arg-type]


def test_sha256_matches_the_standard_and_published_platform_vectors() -> None:
    # FIPS 180-2 test vectors.
    assert sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert sha256_hex("test@example.com") == "973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b"
    # Snap's Conversions API docs: "Person@Example.com" -> "person@example.com" -> this hash (same scheme as Meta's).
    email = normalise_email("  Person@Example.com ")
    assert email == "person@example.com"
    assert sha256_hex(email) == "542d240129883c019e106e3b1b2d3f3cb3537c43c425364de8e951d5a3083345"
    # TikTok's customer-file docs: normalised "janedoe@gmail.com" and its hash.
    assert sha256_hex("janedoe@gmail.com") == "d6117306485ed0e50afab3ac871e98f81699151f30281527d63ff5f233656c69"
    # Snap: "+44 844 412 4653" -> "448444124653" (Meta's digits-only form) -> hash starting with this prefix.
    phone = normalise_phone("+44 844 412 4653", fmt="meta")
    assert phone == "448444124653"
    assert sha256_hex(phone).startswith("dc008fda46e2e64002cf2f82a4906236282d4")


def test_email_normalisation_follows_each_platform() -> None:
    # Google's formatting page, both published examples.
    assert normalise_email("cloudy.sanfrancisco+shopping@gmail.com", gmail_canonical=True) == (
        "cloudysanfrancisco@gmail.com"
    )
    assert normalise_email("user.name+NYC@Example.com", gmail_canonical=True) == "user.name+nyc@example.com"
    assert normalise_email("Max.Mustermann@GoogleMail.com ", gmail_canonical=True) == "maxmustermann@googlemail.com"
    # Meta: trim and lowercase only; a gmail address keeps its dots.
    assert normalise_email(" Max.Mustermann+shop@Gmail.com") == "max.mustermann+shop@gmail.com"
    for junk in ("", "   ", "no-at-sign", "@example.com", "a@b", "a@b@c.de", "x@.de", "x@de.", None):
        assert normalise_email(junk) is None
    assert normalise_email("+@gmail.com", gmail_canonical=True) is None


def test_phones_become_e164_with_plus_for_google_and_digits_for_meta() -> None:
    assert normalise_phone("+49 231 1234567") == "+492311234567"
    assert normalise_phone("0231 1234567", "DE") == "+492311234567"
    assert normalise_phone("0049 231 1234567", "de") == "+492311234567"
    assert normalise_phone("(650) 555-1212", "US") == "+16505551212"
    assert normalise_phone("(800)555-0100", "US") == "+18005550100"  # Google's published example
    assert normalise_phone("0231 1234567", "DE", fmt="meta") == "492311234567"
    assert normalise_phone("1-234-567-8910", "US", fmt="meta") == "12345678910"  # Meta's customer-list example
    # A national number without a country to read it by, and numbers that are not numbers.
    assert normalise_phone("0231 1234567", None) is None
    for junk in ("12345", "abc", "", None):
        assert normalise_phone(junk, "DE") is None


def test_names_keep_umlauts_as_utf8_and_lose_punctuation() -> None:
    assert normalise_name("  Jürgen ") == "jürgen"
    assert normalise_name("Müller-Lüdenscheidt") == "müllerlüdenscheidt"
    assert normalise_name("O'Neil") == "oneil"
    assert normalise_name("Anna  Lena") == "anna lena"
    assert normalise_name("Strauß") == "strauß"  # lower(), not casefold(): "ß" stays
    decomposed = unicodedata.normalize("NFD", "Jürgen")
    assert normalise_name(decomposed) == "jürgen"
    assert sha256_hex(normalise_name(decomposed)) == sha256_hex("jürgen")
    assert sha256_hex("jürgen") == hashlib.sha256(b"j\xc3\xbcrgen").hexdigest()  # UTF-8 bytes, not Latin-1
    assert normalise_name(" .-' ") is None


def test_city_country_and_postcode() -> None:
    assert normalise_city("Frankfurt am Main") == "frankfurtammain"
    assert normalise_city("München") == "münchen"
    assert normalise_country(" DE ") == "de" and normalise_country("UK") == "gb"
    assert normalise_country("Germany") is None and normalise_country("") is None
    assert normalise_postcode("94035-1234", "US") == "94035"
    assert normalise_postcode("94035-1234", "us", fmt="google") == "94035-1234"
    assert normalise_postcode("94035", "US", fmt="google") == "94035"
    assert normalise_postcode("WC2H 8LG", "GB") == "wc2h8lg"
    assert normalise_postcode("wc2h  8lg", "GB", fmt="google") == "WC2H 8LG"
    assert normalise_postcode("44135", "DE") == "44135"
    assert normalise_postcode("=HYPERLINK(1)", "DE", fmt="google") is None
    assert normalise_postcode("9403", "US") is None


def test_meta_row_hashes_every_column() -> None:
    assert header("meta") == ["EMAIL", "PHONE", "FN", "LN", "ZIP", "CT", "COUNTRY"]
    got = row("meta", member())
    assert got == [
        sha256_hex("jürgen.müller@example.de"),
        sha256_hex("492311234567"),
        sha256_hex("jürgen"),
        sha256_hex("müller"),
        sha256_hex("44135"),
        sha256_hex("dortmund"),
        sha256_hex("de"),
    ]


def test_google_row_hashes_identifiers_and_leaves_country_and_zip_plain() -> None:
    assert header("google") == ["Email", "Phone", "First Name", "Last Name", "Country", "Zip"]
    got = row("google", member(email="Max.Power+news@gmail.com"))
    assert got == [
        sha256_hex("maxpower@gmail.com"),
        sha256_hex("+492311234567"),
        sha256_hex("jürgen"),
        sha256_hex("müller"),
        "de",
        "44135",
    ]


def test_a_member_nobody_could_match_has_no_row() -> None:
    nothing = member(email="not-an-email", phone="123", postcode=None)
    assert row("meta", nothing) is None and row("google", nothing) is None
    phone_only = member(email=None, first_name=None, last_name=None, postcode=None, city=None)
    assert row("google", phone_only) is not None
    address_only = member(email=None, phone=None)
    assert row("google", address_only) is not None
    with pytest.raises(ValueError):
        header("tiktok")


def parse_csv(lines: list[str]) -> list[list[str]]:
    return list(csv.reader(io.StringIO("".join(lines))))


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_advertising_consent_never_reaches_the_csv_or_the_payload(fmt: str) -> None:
    yes = member("yes", email="yes@example.com")
    no = member("no", email="no@example.com")
    unknown = member("unknown", email="unknown@example.com")
    exported = eligible([(yes, True), (no, False), (unknown, None)])  # type: ignore[list-item]
    assert exported == [yes]
    text = "".join(csv_lines(fmt, exported))
    assert sha256_hex("yes@example.com") in text
    assert sha256_hex("no@example.com") not in text and sha256_hex("unknown@example.com") not in text
    body = json.dumps(delta_payload(fmt, exported, []))
    assert sha256_hex("no@example.com") not in body and "no@example.com" not in body


@pytest.mark.parametrize("fmt", FORMATS)
def test_csv_is_a_header_and_one_line_per_matchable_member(fmt: str) -> None:
    members = [member("a", email="a@example.com"), member("b", email="x", phone=None, postcode=None), member("c")]
    lines = list(csv_lines(fmt, members))
    assert all(line.endswith("\r\n") for line in lines)
    parsed = parse_csv(lines)
    assert parsed[0] == header(fmt)
    assert len(parsed) == 3  # "b" has nothing to match on
    assert all(len(r) == len(header(fmt)) for r in parsed)
    assert parse_csv(list(csv_lines(fmt, [])))[0] == header(fmt)


def test_payload_carries_hashes_only_and_removes_by_the_rows_kept_from_the_export() -> None:
    kept = row_dict("google", member("gone", email="Gone@Example.com"))
    assert kept is not None
    payload = delta_payload("google", [member("new", email="new@example.com")], [kept])
    assert payload["format"] == "google"
    assert payload["add"][0]["Email"] == sha256_hex("new@example.com")
    assert payload["remove"] == [kept]
    assert payload["remove"][0]["Email"] == sha256_hex("gone@example.com")
    body = json.dumps(payload, ensure_ascii=False)
    assert "@" not in body  # no email in any form
    for plain in ("jürgen", "müller", "492311234567", "new", "gone"):
        assert plain not in body.lower()


def test_withdrawal_of_consent_is_a_removal_in_the_next_delta() -> None:
    a, b, c = member("a"), member("b"), member("c")
    first = {m.customer_id for m in eligible([(a, True), (b, True), (c, False)])}
    assert delta(set(), first) == delta(set(), {"a", "b"})
    assert delta(set(), first).added == ("a", "b")
    # b withdraws advertising consent, c grants it; a is erased (no consent left, so not eligible).
    now = {m.customer_id for m in eligible([(b, False), (c, True)])}
    change = delta(first, now)
    assert change.added == ("c",) and change.removed == ("a", "b")
    assert delta(now, now).added == () and delta(now, now).removed == ()


ids = st.sets(st.text(alphabet="abcdef0123456789", min_size=1, max_size=4), max_size=30)


@settings(max_examples=200, deadline=None)
@given(ids, ids)
def test_applying_the_delta_to_the_previous_export_gives_the_current_one(previous: set[str], now: set[str]) -> None:
    change = delta(previous, now)
    assert (previous | set(change.added)) - set(change.removed) == now
    assert not set(change.added) & set(change.removed)
    assert list(change.added) == sorted(change.added) and list(change.removed) == sorted(change.removed)
    assert set(change.added).isdisjoint(previous) and set(change.removed) <= previous
