"""Retargeting audiences: a segment's members as Meta Custom Audience and Google Customer Match uploads. Pure.

The platforms match on SHA-256 hashes of *normalised* identifiers, so one stray capital letter or a missing country
code means no match; the normalisation rules below are the platforms' published ones, not ours:

- Meta, customer-file Custom Audiences (Marketing API schema EMAIL, PHONE, FN, LN, ZIP, CT, COUNTRY, every one of
  them hashed): https://developers.facebook.com/docs/marketing-api/audiences/guides/custom-audiences , the
  per-field rules as Meta's Business SDK implements them (facebook_business/adobjects/serverside/normalize.py) and
  https://developers.facebook.com/docs/marketing-api/conversions-api/parameters/customer-information-parameters
  (email trimmed + lowercase; phone digits only with country code, no '+', no leading zeros; names lowercase without
  punctuation, UTF-8 kept; city without spaces/punctuation; zip lowercase without spaces, US first 5 digits;
  country ISO 3166-1 alpha-2 lowercase).
- Google Customer Match CSV template (headers Email, Phone, First Name, Last Name, Country, Zip; Country and Zip
  plain, the rest hashable): https://support.google.com/google-ads/answer/7659867 and the template at
  https://g.co/wudy8r ; the normalisation is Google's "Format user data" page for Customer Match uploads:
  https://developers.google.com/data-manager/api/devguides/concepts/formatting (email lowercase without any
  whitespace and, for gmail.com/googlemail.com only, without dots and '+suffix' in the local part; phone E.164 with
  '+'; names lowercase, trimmed; region code ISO alpha-2 and postal code unhashed, US 5 digits or ZIP+4).

Consent is not a property of a row: `eligible` is the one gate, and everything after it trusts its input.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

import phonenumbers

FORMATS = ("meta", "google")
_COLUMNS: dict[str, tuple[str, ...]] = {
    "meta": ("EMAIL", "PHONE", "FN", "LN", "ZIP", "CT", "COUNTRY"),
    "google": ("Email", "Phone", "First Name", "Last Name", "Country", "Zip"),
}
_GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})
#: Merchants write "UK"; ISO 3166-1 (and both platforms) say GB.
_COUNTRY_ALIASES = {"uk": "gb"}
#: Anything else in a postcode is a typo or an injection attempt (Google's Zip column goes into the file unhashed).
_POSTCODE = re.compile(r"[0-9A-Za-z][0-9A-Za-z \-]{1,11}")
_US_ZIP = re.compile(r"(\d{5})(?:[ \-]?(\d{4}))?")


def sha256_hex(value: str) -> str:
    """Lowercase hex SHA-256 of the UTF-8 bytes, unsalted: the form both platforms compare against."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def normalise_email(raw: str | None, *, gmail_canonical: bool = False) -> str | None:
    """Lowercase, no whitespace; None unless it looks like local@domain.tld.

    `gmail_canonical` (Google only) drops dots and a '+suffix' from gmail.com/googlemail.com local parts, as
    Google's formatting page asks; other domains keep theirs (user.name+NYC@Example.com -> user.name+nyc@example.com).
    Meta documents no such rule and hashes the address as given, so for Meta a canonicalised gmail would never match.
    Whitespace inside an address is removed for both: it can only be a typo (Google says so explicitly).
    """
    if not raw:
        return None
    value = "".join(unicodedata.normalize("NFC", raw).split()).lower()
    local, at, domain = value.rpartition("@")
    if not at or not local or "@" in local or "." not in domain or domain[0] == "." or domain[-1] == ".":
        return None
    if gmail_canonical and domain in _GMAIL_DOMAINS:
        local = local.split("+", 1)[0].replace(".", "")
        if not local:
            return None
    return f"{local}@{domain}"


def normalise_phone(raw: str | None, default_country: str | None = None, *, fmt: str = "google") -> str | None:
    """E.164 via `phonenumbers`; None when it is not a valid number.

    `default_country` (ISO alpha-2) reads national numbers like "0231 1234567" for a German shop. Google wants E.164
    with '+'; Meta wants the same digits without '+' ("remove symbols ... and any leading zeroes").
    """
    if not raw or not raw.strip():
        return None
    region = default_country.strip().upper() if default_country else None
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return e164.removeprefix("+") if fmt == "meta" else e164


def _letters(raw: str | None, *, keep_spaces: bool) -> str | None:
    """NFC (so a decomposed "ü" hashes like a composed one), lowercase, no punctuation, whitespace collapsed."""
    if not raw:
        return None
    text = unicodedata.normalize("NFC", raw).lower()
    text = "".join(ch for ch in text if not unicodedata.category(ch).startswith("P"))
    text = " ".join(text.split()) if keep_spaces else "".join(text.split())
    return text or None


def normalise_name(raw: str | None) -> str | None:
    """First or last name: lowercase, no punctuation, UTF-8 letters kept ("Jürgen" -> "jürgen", "O'Neil" -> "oneil").

    Both platforms say lowercase and no punctuation; neither says to transliterate umlauts (Meta: "special characters
    in UTF-8 format"), and `str.lower` keeps "ß" (casefold would turn it into "ss" and break the match). A space inside
    a double name is kept single: Google asks only to remove *extra* spaces.
    """
    return _letters(raw, keep_spaces=True)


def normalise_city(raw: str | None) -> str | None:
    """Meta CT: lowercase, no punctuation, no digits, no whitespace ("Frankfurt am Main" -> "frankfurtammain")."""
    text = _letters(raw, keep_spaces=False)
    text = "".join(ch for ch in text or "" if not ch.isdigit())
    return text or None


def normalise_country(raw: str | None) -> str | None:
    """ISO 3166-1 alpha-2, lowercase (Meta hashes it lowercase; Google's template writes it lowercase too)."""
    if not raw:
        return None
    code = raw.strip().lower()
    code = _COUNTRY_ALIASES.get(code, code)
    return code if len(code) == 2 and code.isascii() and code.isalpha() else None


def normalise_postcode(raw: str | None, country: str | None, *, fmt: str = "meta") -> str | None:
    """Meta ZIP: lowercase without spaces, US first 5 digits. Google Zip (unhashed): uppercase, US 5 digits or ZIP+4."""
    if not raw or not _POSTCODE.fullmatch(raw.strip()):
        return None
    text = raw.strip()
    if normalise_country(country) == "us":
        match = _US_ZIP.fullmatch(text)
        if not match:
            return None
        return match[1] if fmt == "meta" or not match[2] else f"{match[1]}-{match[2]}"
    if fmt == "meta":
        return "".join(text.split()).lower()
    return " ".join(text.split()).upper()


@dataclass(frozen=True)
class AudienceMember:
    customer_id: str
    email: str | None
    phone: str | None
    first_name: str | None
    last_name: str | None
    postcode: str | None
    city: str | None
    country: str | None


def eligible(members_with_consent: Iterable[tuple[AudienceMember, bool]]) -> list[AudienceMember]:
    """The only way into an export: members whose advertising consent is granted, exactly `True`.

    Unknown consent arrives as False or None and stays out: no consent, no export, whatever else the segment says.
    An erased customer has no consent left, so erasure is a withdrawal here and shows up in the next delta's removals.
    """
    return [member for member, consent in members_with_consent if consent is True]


def header(fmt: str) -> list[str]:
    if fmt not in _COLUMNS:
        raise ValueError(f"unknown audience format {fmt!r}; expected one of {FORMATS}")
    return list(_COLUMNS[fmt])


def _hashed(value: str | None) -> str:
    return sha256_hex(value) if value else ""


def row(fmt: str, member: AudienceMember) -> list[str] | None:
    """One upload row in the format's column order, empty cells where unknown; None if nothing could match.

    A member matches by email, by phone, or by the full address set (first and last name, postcode, country) that
    Google requires for address matching; anything less is noise the platforms would drop or reject.
    """
    header(fmt)  # validates fmt
    country = normalise_country(member.country)
    email = normalise_email(member.email, gmail_canonical=fmt == "google")
    phone = normalise_phone(member.phone, country, fmt=fmt)
    first, last = normalise_name(member.first_name), normalise_name(member.last_name)
    postcode = normalise_postcode(member.postcode, country, fmt=fmt)
    if not (email or phone or (first and last and postcode and country)):
        return None
    if fmt == "meta":
        values = (email, phone, first, last, postcode, normalise_city(member.city), country)
        return [_hashed(v) for v in values]
    return [_hashed(email), _hashed(phone), _hashed(first), _hashed(last), country or "", postcode or ""]


def row_dict(fmt: str, member: AudienceMember) -> dict[str, str] | None:
    """The row keyed by column: what a delta carries and what the exporter should keep to remove the member later."""
    values = row(fmt, member)
    return None if values is None else dict(zip(header(fmt), values, strict=True))


def _csv_line(values: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(values)
    return buffer.getvalue()


def csv_lines(fmt: str, members: Iterable[AudienceMember]) -> Iterator[str]:
    """Header, then one line per matchable member; lazy, so a streamed response never holds the whole segment."""
    yield _csv_line(header(fmt))
    for member in members:
        values = row(fmt, member)
        if values is not None:
            yield _csv_line(values)


@dataclass(frozen=True)
class AudienceDelta:
    added: tuple[str, ...]
    removed: tuple[str, ...]


def delta(previously_exported: set[str], eligible_now: set[str]) -> AudienceDelta:
    """Customer ids to add and to remove, sorted so the same change always yields the same push."""
    return AudienceDelta(
        added=tuple(sorted(eligible_now - previously_exported)),
        removed=tuple(sorted(previously_exported - eligible_now)),
    )


def delta_payload(
    fmt: str,
    added_members: Iterable[AudienceMember],
    removed_members: Iterable[AudienceMember | Mapping[str, str]],
) -> dict:
    """The JSON body pushed to the destination: hashed rows only, never a plain email, phone or name.

    Removals may be given as the row dicts kept from the earlier export: after an erasure the customer's email is
    gone, yet the platform can only drop the member by the very hashes it was sent. (Google's Country and Zip are
    plain by the platform's own spec.) No customer ids: the platforms do not take them and they are ours.
    """
    add = [d for d in (row_dict(fmt, m) for m in added_members) if d is not None]
    remove = []
    columns = header(fmt)
    for item in removed_members:
        if isinstance(item, AudienceMember):
            kept = row_dict(fmt, item)
        else:
            kept = {column: str(item.get(column, "")) for column in columns}
        if kept is not None:
            remove.append(kept)
    return {"format": fmt, "add": add, "remove": remove}
