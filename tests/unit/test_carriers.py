"""Carrier adapters, pure: fixture payloads of each carrier parse into canonical scans, every raw code is kept."""

from __future__ import annotations

import copy
import json
import re
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from services.tracking.domain.carriers import (
    CANONICAL_STATES,
    CARRIERS,
    EXCEPTION_REASONS,
    CarrierPayloadError,
    CarrierScan,
    Normalised,
    dhl,
    dpd,
    gls,
    hermes,
    normalise,
    parse_payload,
    ups,
)
from services.tracking.domain.shipments import next_status

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "carriers"
FIXTURE_FILES = sorted(FIXTURES.glob("*/*.json"))
TABLES = {"dhl": dhl.CODES, "dpd": dpd.CODES, "gls": gls.CODES, "hermes": hermes.CODES, "ups": ups.CODES}


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def fixture_id(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


# (raw code, status, exception reason, scanned_at in UTC), oldest first. The UTC times are worked out by hand from
# the payloads: naive carrier times are German time (CET +1 in November, CEST +2 in June/July).
EXPECTED: dict[str, list[tuple[str, str, str | None, str]]] = {
    "dhl/parcel_de_delivered": [
        ("pre-transit", "label_created", None, "2025-11-03 10:05:00"),
        ("transit", "in_transit", None, "2025-11-03 18:30:00"),
        ("transit", "in_transit", None, "2025-11-04 03:12:00"),
        ("transit", "in_transit", None, "2025-11-04 07:51:00"),
        ("delivered", "delivered", None, "2025-11-04 12:42:00"),
    ],
    "dhl/express_customs_failure": [
        ("pre-transit", "label_created", None, "2025-06-17 09:00:00"),
        ("transit", "in_transit", None, "2025-06-17 15:05:00"),
        ("transit", "in_transit", None, "2025-06-17 20:40:00"),
        ("transit", "in_transit", None, "2025-06-18 01:02:00"),
        ("failure", "exception", "other", "2025-06-18 07:14:00"),
        ("unknown", "unknown", None, "2025-06-18 09:30:00"),
    ],
    "dhl/summary_only_in_transit": [
        ("transit", "in_transit", None, "2025-11-05 20:17:00"),
    ],
    "dpd/delivered": [
        ("05", "in_transit", None, "2025-11-03 17:47:12"),
        ("10", "in_transit", None, "2025-11-03 22:58:40"),
        ("02", "in_transit", None, "2025-11-04 04:21:03"),
        ("03", "out_for_delivery", None, "2025-11-04 06:44:55"),
        ("13", "delivered", None, "2025-11-04 11:16:30"),
    ],
    "dpd/failed_attempt": [
        ("15", "in_transit", None, "2025-07-14 15:03:00"),
        ("05", "in_transit", None, "2025-07-14 18:10:00"),
        ("10", "in_transit", None, "2025-07-15 00:30:00"),
        ("02", "in_transit", None, "2025-07-15 04:02:00"),
        ("03", "out_for_delivery", None, "2025-07-15 05:15:00"),
        ("14", "failed_attempt", None, "2025-07-15 11:40:00"),
        ("04", "in_transit", None, "2025-07-15 16:05:00"),
        ("23", "unknown", None, "2025-07-15 16:07:00"),
        ("3", "out_for_delivery", None, "2025-07-16 05:20:00"),
    ],
    "gls/delivered": [
        ("0.0", "unknown", None, "2025-11-04 15:02:00"),
        ("1.0", "unknown", None, "2025-11-04 17:15:00"),
        ("2.0", "unknown", None, "2025-11-05 02:40:00"),
        ("11.0", "out_for_delivery", None, "2025-11-05 06:05:00"),
        ("3.0", "delivered", None, "2025-11-05 10:20:00"),
        ("DELIVERED", "delivered", None, "2025-11-05 10:20:00"),
    ],
    "gls/not_delivered": [
        ("PREADVICE", "label_created", None, "2025-11-09 16:45:00"),
        ("2.0", "unknown", None, "2025-11-10 01:55:00"),
        ("11.0", "out_for_delivery", None, "2025-11-10 07:10:00"),
        ("4.40", "unknown", None, "2025-11-10 13:32:00"),
        ("NOTDELIVERED", "failed_attempt", None, "2025-11-10 13:32:00"),
    ],
    "hermes/delivered_neighbour": [
        ("ANNOUNCED", "label_created", None, "2025-11-04 19:03:58"),
        ("TAKEN_OVER_BY_HERMES", "in_transit", None, "2025-11-05 10:15:00"),
        ("EDL_BOOKED_DROPOFF", "unknown", None, "2025-11-05 12:00:00"),
        ("SORTED", "in_transit", None, "2025-11-05 21:30:02"),
        ("ARRIVED_AT_DELIVERY_DEPOT", "in_transit", None, "2025-11-06 03:12:45"),
        ("DELIVERY_TOUR_STARTED", "out_for_delivery", None, "2025-11-06 07:48:00"),
        ("DELIVERED_NEIGHBOUR", "delivered", None, "2025-11-06 15:02:11"),
    ],
    "hermes/not_deliverable_return": [
        ("ANNOUNCED", "label_created", None, "2025-11-09 19:00:00"),
        ("PARCELSHOP_DROP_OFF", "in_transit", None, "2025-11-10 10:30:00"),
        ("ARRIVED_AT_DELIVERY_DEPOT", "in_transit", None, "2025-11-11 03:40:00"),
        ("DELIVERY_TOUR_STARTED", "out_for_delivery", None, "2025-11-11 07:00:00"),
        ("NOT_DELIVERABLE", "exception", "other", "2025-11-11 13:25:00"),
        ("RETURN_TO_SENDER", "returned_to_sender", None, "2025-11-12 08:10:00"),
    ],
    "ups/delivered": [
        ("M", "label_created", None, "2025-11-02 11:05:12"),
        ("P", "in_transit", None, "2025-11-03 16:10:00"),
        ("I", "in_transit", None, "2025-11-03 21:20:00"),
        ("I", "in_transit", None, "2025-11-04 02:15:00"),
        ("O", "out_for_delivery", None, "2025-11-04 06:45:10"),
        ("D", "delivered", None, "2025-11-04 13:12:03"),
    ],
    "ups/customs_exception": [
        ("M", "label_created", None, "2025-11-17 14:30:12"),  # gmtOffset -05:00
        ("P", "in_transit", None, "2025-11-17 21:30:00"),
        ("I", "in_transit", None, "2025-11-19 04:50:00"),  # 23:50 in Louisville the day before
        ("I", "in_transit", None, "2025-11-19 05:20:00"),
        ("X", "exception", "other", "2025-11-19 10:30:00"),
        ("I", "in_transit", None, "2025-11-20 07:15:00"),  # no gmtOffset: German time
    ],
}

#: The state each parcel ends in when its scans run through the shipment state machine.
FINAL_STATES = {
    "00340434161094042557": "delivered",
    "4925173840": "exception",
    "00340434161094099991": "in_transit",
    "01375012345678": "delivered",
    "01505098765432": "out_for_delivery",
    "91234567890": "delivered",
    "91234567891": "failed_attempt",
    "91234567892": "label_created",
    "05123456789012": "delivered",
    "05987654321098": "returned_to_sender",
    "1Z999AA10123456784": "delivered",
    "1Z999AA10198765432": "in_transit",
}


def raw_codes_in(carrier: str, payload: dict[str, Any]) -> list[str]:
    """Every status code the payload carries, read independently of the adapters."""
    if carrier == "dhl":
        return [
            e["statusCode"]
            for s in payload["shipments"]
            for e in (s.get("events") or [s["status"]])  # summary status only when there are no events
        ]
    if carrier == "dpd":
        scans = payload["parcellifecycleResponse"]["parcelLifeCycleData"]["scanInfo"]["scan"]
        return [s["scanData"]["scanType"]["code"] for s in scans]
    if carrier == "gls":
        return [e["code"] for p in payload["parcels"] for e in p["events"]] + [p["status"] for p in payload["parcels"]]
    if carrier == "hermes":
        return [e["parcelStatus"] for e in payload["parcelProgress"]]
    return [
        a["status"]["type"] for s in payload["trackResponse"]["shipment"] for p in s["package"] for a in p["activity"]
    ]


# --- every fixture -------------------------------------------------------------------------------------------


def test_every_fixture_has_expectations_and_every_carrier_has_fixtures() -> None:
    assert {fixture_id(p) for p in FIXTURE_FILES} == set(EXPECTED)
    for carrier in CARRIERS:
        assert len(list((FIXTURES / carrier).glob("*.json"))) >= 2, carrier


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=fixture_id)
def test_fixture_parses_into_the_expected_scans(path: Path) -> None:
    scans = parse_payload(path.parent.name, json.loads(path.read_text(encoding="utf-8")))
    got = [(s.raw_status_code, s.status, s.exception_reason, s.scanned_at) for s in scans]
    want = [
        (raw, status, reason, datetime.fromisoformat(at).replace(tzinfo=UTC))
        for raw, status, reason, at in EXPECTED[fixture_id(path)]
    ]
    assert got == want


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=fixture_id)
def test_fixture_scans_keep_the_invariants(path: Path) -> None:
    carrier = path.parent.name
    payload = json.loads(path.read_text(encoding="utf-8"))
    scans = parse_payload(carrier, payload)

    # Raw codes unchanged and none dropped, unknown ones included.
    assert Counter(s.raw_status_code for s in scans) == Counter(raw_codes_in(carrier, payload))
    assert [s.scanned_at for s in scans] == sorted(s.scanned_at for s in scans)
    for s in scans:
        assert isinstance(s, CarrierScan)
        assert s.scanned_at.tzinfo is UTC and s.scanned_at.utcoffset() == timedelta(0)
        assert s.status in CANONICAL_STATES
        assert (s.exception_reason is not None) == (s.status == "exception")
        assert s.exception_reason is None or s.exception_reason in EXCEPTION_REASONS
        assert normalise(carrier, s.raw_status_code) == Normalised(s.status, s.exception_reason)
        assert s.tracking_number.strip()
        if s.location is not None:
            assert s.location and set(s.location) <= {"city", "postcode", "country"}
            assert all(isinstance(v, str) and v for v in s.location.values())
            assert "country" not in s.location or re.fullmatch(r"[A-Z]{2}", s.location["country"])


def test_scans_drive_the_shipment_state_machine() -> None:
    """The adapters' output is what next_status consumes: each fixture parcel ends where its story says."""
    ended: dict[str, str | None] = {}
    for path in FIXTURE_FILES:
        state: dict[str, tuple[str | None, datetime | None]] = {}
        for s in parse_payload(path.parent.name, json.loads(path.read_text(encoding="utf-8"))):
            current, current_at = state.get(s.tracking_number, (None, None))
            moved = next_status(current, current_at, s.status, s.scanned_at)
            state[s.tracking_number] = (moved.to_status, s.scanned_at) if moved else (current, current_at)
        ended.update({number: status for number, (status, _) in state.items()})
    assert ended == FINAL_STATES


# --- parsed details --------------------------------------------------------------------------------------------


def test_dhl_locations_descriptions_and_estimated_delivery() -> None:
    parcel = parse_payload("dhl", load("dhl/parcel_de_delivered"))
    assert parcel[1].location == {"city": "Aschaffenburg", "postcode": "63741", "country": "DE"}
    assert parcel[3].location is None  # "loaded onto the delivery vehicle" has no place
    assert parcel[-1].location == {"city": "Hamburg", "country": "DE"}
    assert parcel[-1].description == "The shipment has been delivered to the recipient's neighbour."
    assert {s.estimated_delivery_date for s in parcel} == {None}
    express = parse_payload("dhl", load("dhl/express_customs_failure"))
    assert {s.estimated_delivery_date for s in express} == {date(2025, 6, 19)}
    assert express[1].location == {"city": "London", "postcode": "EC1A 1BB", "country": "GB"}
    # No events at all: the summary status is the scan, the ETA comes from the delivery time frame.
    (summary,) = parse_payload("dhl", load("dhl/summary_only_in_transit"))
    assert summary.location == {"city": "Bochum", "country": "DE"}
    assert summary.estimated_delivery_date == date(2025, 11, 6)


def test_dpd_places_and_descriptions() -> None:
    scans = parse_payload("dpd", load("dpd/failed_attempt"))
    # "Köln (DE)" with the numeric country 276 beside it: the alpha-2 code comes from the place.
    assert scans[0].location == {"city": "Köln", "country": "DE"}
    failed = next(s for s in scans if s.status == "failed_attempt")
    assert failed.description == (
        "Unfortunately we have not been able to deliver your parcel. "
        "Consignee not at home; we will try again on the next working day."
    )
    assert {s.tracking_number for s in scans} == {"01505098765432"}
    assert {s.estimated_delivery_date for s in scans} == {None}


def test_gls_parcel_status_is_a_scan_of_its_own_and_every_parcel_is_parsed() -> None:
    scans = parse_payload("gls", load("gls/not_delivered"))
    assert {s.tracking_number for s in scans} == {"91234567891", "91234567892"}
    status_scan = next(s for s in scans if s.raw_status_code == "NOTDELIVERED")
    assert (status_scan.location, status_scan.description) == (None, None)
    event = next(s for s in scans if s.raw_status_code == "4.40")
    assert event.location == {"city": "Leipzig", "country": "DE"}
    assert event.description == "The parcel could not be delivered as the consignee was absent."


def test_hermes_has_no_location_but_keeps_the_history_text() -> None:
    scans = parse_payload("hermes", load("hermes/delivered_neighbour"))
    assert {s.location for s in scans} == {None}
    assert scans[-1].description == "Die Sendung wurde beim Nachbarn zugestellt."


def test_ups_locations_offsets_and_rescheduled_delivery_date() -> None:
    scans = parse_payload("ups", load("ups/customs_exception"))
    assert scans[0].location == {"country": "US"}  # label created: UPS gives only the country
    assert scans[1].location == {"city": "NEW YORK", "postcode": "10001", "country": "US"}
    assert {s.estimated_delivery_date for s in scans} == {date(2025, 11, 21)}  # RDD beats SDD
    delivered = parse_payload("ups", load("ups/delivered"))
    assert {s.estimated_delivery_date for s in delivered} == {None}  # DEL is not an estimate
    assert delivered[-1].description == "DELIVERED"


def test_ups_time_without_leading_zero() -> None:
    payload = load("ups/delivered")
    payload["trackResponse"]["shipment"][0]["package"][0]["activity"][1]["time"] = "74510"
    scans = parse_payload("ups", payload)
    assert scans[4].scanned_at == datetime(2025, 11, 4, 6, 45, 10, tzinfo=UTC)


# --- code tables ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("carrier", CARRIERS)
def test_every_mapped_code_maps_into_the_canonical_set(carrier: str) -> None:
    assert TABLES[carrier], carrier
    for code, mapped in TABLES[carrier].items():
        assert mapped.status in CANONICAL_STATES, (carrier, code)
        assert (mapped.exception_reason is not None) == (mapped.status == "exception"), (carrier, code)
        assert mapped.exception_reason is None or mapped.exception_reason in EXCEPTION_REASONS, (carrier, code)
        for spelling in (code, code.upper(), code.lower(), f" {code.title()} "):
            assert normalise(carrier, spelling) == mapped, (carrier, spelling)


@pytest.mark.parametrize(
    ("carrier", "code", "status", "reason"),
    [
        ("dhl", "pre-transit", "label_created", None),
        ("dhl", "transit", "in_transit", None),
        ("dhl", "delivered", "delivered", None),
        ("dhl", "failure", "exception", "other"),
        ("dhl", "unknown", "unknown", None),
        ("dpd", "03", "out_for_delivery", None),
        ("dpd", "13", "delivered", None),
        ("dpd", "14", "failed_attempt", None),
        ("dpd", "06", "returned_to_sender", None),
        ("dpd", "1", "in_transit", None),  # leading zero dropped by the API
        ("dpd", "AT_DELIVERY_DEPOT", "in_transit", None),
        ("gls", "PREADVICE", "label_created", None),
        ("gls", "INWAREHOUSE", "in_transit", None),
        ("gls", "INDELIVERY", "out_for_delivery", None),
        ("gls", "DELIVEREDPS", "out_for_delivery", None),
        ("gls", "notdelivered", "failed_attempt", None),
        ("gls", "CANCELED", "exception", "other"),
        ("hermes", "DELIVERY_TOUR_STARTED", "out_for_delivery", None),
        ("hermes", "NICHT_ANGETROFFEN_2", "failed_attempt", None),
        ("hermes", "NICHT_ZUSTELLBAR_ADRESSFEHLER", "exception", "address_problem"),
        ("hermes", "PRUEFUNG_AUF_BESCHAEDIGUNG", "exception", "damaged"),
        ("hermes", "RETURN_DELIVERED_TO_SENDER", "returned_to_sender", None),
        ("ups", "M", "label_created", None),
        ("ups", "o", "out_for_delivery", None),
        ("ups", "X", "exception", "other"),
        ("ups", "RS", "returned_to_sender", None),
        ("ups", "NA", "unknown", None),
    ],
)
def test_documented_codes(carrier: str, code: str, status: str, reason: str | None) -> None:
    assert normalise(carrier, code) == Normalised(status, reason)


@pytest.mark.parametrize("carrier", CARRIERS)
@pytest.mark.parametrize("code", ["NEW_CODE_2031", "", "  ", "out-for-delivery?"])
def test_unknown_codes_map_to_unknown(carrier: str, code: str) -> None:
    assert normalise(carrier, code) == Normalised("unknown", None)


@pytest.mark.parametrize(
    ("carrier", "code"),
    [("dpd", "07"), ("dpd", "11"), ("gls", "FINAL"), ("gls", "4.40"), ("hermes", "EDL_BOOKED_DROPOFF"), ("ups", "U")],
)
def test_undocumented_carrier_codes_are_not_guessed(carrier: str, code: str) -> None:
    assert normalise(carrier, code) == Normalised("unknown", None)


def test_unknown_codes_are_kept_on_the_timeline() -> None:
    scans = parse_payload("dpd", load("dpd/failed_attempt"))
    unknown = [s for s in scans if s.status == "unknown"]
    assert [(s.raw_status_code, s.exception_reason, s.description) for s in unknown] == [
        ("23", None, "Delivery to a DPD Pickup parcelshop requested.")
    ]


def test_normalised_rejects_states_outside_the_canonical_set() -> None:
    with pytest.raises(ValueError):
        Normalised("ready_for_pickup", None)
    with pytest.raises(ValueError):
        Normalised("exception", None)
    with pytest.raises(ValueError):
        Normalised("delivered", "damaged")
    with pytest.raises(ValueError):
        Normalised("exception", "weather")


# --- carriers and malformed payloads --------------------------------------------------------------------------


def test_carrier_names_are_case_insensitive() -> None:
    assert normalise("DHL", "Delivered") == Normalised("delivered", None)
    assert parse_payload(" Hermes ", load("hermes/delivered_neighbour"))


@pytest.mark.parametrize("carrier", ["fedex", "", "dhl-express"])
def test_unknown_carrier(carrier: str) -> None:
    with pytest.raises(CarrierPayloadError) as normalised:
        normalise(carrier, "delivered")
    with pytest.raises(CarrierPayloadError) as parsed:
        parse_payload(carrier, {})
    for error in (normalised.value, parsed.value):
        assert error.path == "carrier"
        assert "unknown carrier" in error.message
        assert isinstance(error, ValueError)


def test_payload_must_be_an_object() -> None:
    with pytest.raises(CarrierPayloadError) as error:
        parse_payload("dhl", [])  # type: ignore[arg-type]
    assert error.value.path == "payload"


DPD_SCANS = "parcellifecycleResponse.parcelLifeCycleData.scanInfo.scan"
UPS_PACKAGE = "trackResponse.shipment[0].package[0]"


def dpd_scan(payload: dict[str, Any], n: int) -> dict[str, Any]:
    return payload["parcellifecycleResponse"]["parcelLifeCycleData"]["scanInfo"]["scan"][n]


def ups_package(payload: dict[str, Any]) -> dict[str, Any]:
    return payload["trackResponse"]["shipment"][0]["package"][0]


MALFORMED: list[tuple[str, Callable[[dict[str, Any]], object], str]] = [
    (
        "dhl/parcel_de_delivered",
        lambda p: p["shipments"][0]["events"][2].pop("timestamp"),
        "shipments[0].events[2].timestamp",
    ),
    (
        "dhl/parcel_de_delivered",
        lambda p: p["shipments"][0]["events"][1].update(timestamp="gestern"),
        "shipments[0].events[1].timestamp",
    ),
    (
        "dhl/parcel_de_delivered",
        lambda p: p["shipments"][0]["events"][0].update(statusCode=7),
        "shipments[0].events[0].statusCode",
    ),
    ("dhl/parcel_de_delivered", lambda p: p["shipments"][0].pop("id"), "shipments[0].id"),
    ("dhl/parcel_de_delivered", lambda p: p.update(shipments={}), "shipments"),
    ("dhl/parcel_de_delivered", lambda p: p["shipments"].append("00340434161094042558"), "shipments[1]"),
    (
        "dhl/express_customs_failure",
        lambda p: p["shipments"][0].update(estimatedTimeOfDelivery="soon"),
        "shipments[0].estimatedTimeOfDelivery",
    ),
    (
        "dpd/delivered",
        lambda p: dpd_scan(p, 3)["scanData"]["scanType"].pop("code"),
        f"{DPD_SCANS}[3].scanData.scanType.code",
    ),
    ("dpd/delivered", lambda p: dpd_scan(p, 0).update(date="04.11.2025, 07:44"), f"{DPD_SCANS}[0].date"),
    ("dpd/delivered", lambda p: dpd_scan(p, 1).pop("scanData"), f"{DPD_SCANS}[1].scanData"),
    (
        "dpd/delivered",
        lambda p: p["parcellifecycleResponse"]["parcelLifeCycleData"].pop("shipmentInfo"),
        "parcellifecycleResponse.parcelLifeCycleData.shipmentInfo",
    ),
    ("dpd/delivered", lambda p: p.pop("parcellifecycleResponse"), "parcellifecycleResponse"),
    ("gls/delivered", lambda p: p["parcels"][0]["events"].__setitem__(1, "3.0"), "parcels[0].events[1]"),
    ("gls/delivered", lambda p: p["parcels"][0]["events"][4].pop("code"), "parcels[0].events[4].code"),
    ("gls/delivered", lambda p: p["parcels"][0].pop("statusDateTime"), "parcels[0].statusDateTime"),
    ("gls/not_delivered", lambda p: [p["parcels"][1].pop(k) for k in ("unitno", "trackid")], "parcels[1].unitno"),
    (
        "hermes/delivered_neighbour",
        lambda p: p["parcelProgress"][4].pop("parcelStatus"),
        "parcelProgress[4].parcelStatus",
    ),
    (
        "hermes/delivered_neighbour",
        lambda p: p["parcelProgress"][0].update(timestamp="2025-13-06T15:02:11Z"),
        "parcelProgress[0].timestamp",
    ),
    ("hermes/delivered_neighbour", lambda p: p.update(barcode=""), "barcode"),
    ("ups/delivered", lambda p: ups_package(p)["activity"][2].update(time="256100"), f"{UPS_PACKAGE}.activity[2].time"),
    (
        "ups/delivered",
        lambda p: ups_package(p)["activity"][2].update(date="2025-11-04"),
        f"{UPS_PACKAGE}.activity[2].date",
    ),
    (
        "ups/delivered",
        lambda p: ups_package(p)["activity"][0].update(gmtOffset="CET"),
        f"{UPS_PACKAGE}.activity[0].gmtOffset",
    ),
    ("ups/delivered", lambda p: ups_package(p)["activity"][5].pop("status"), f"{UPS_PACKAGE}.activity[5].status"),
    (
        "ups/customs_exception",
        lambda p: ups_package(p)["deliveryDate"][1].update(date="21.11.2025"),
        f"{UPS_PACKAGE}.deliveryDate[1].date",
    ),
    ("ups/delivered", lambda p: p.update(trackResponse=None), "trackResponse"),
]


@pytest.mark.parametrize(("fixture", "break_it", "path"), MALFORMED, ids=[f"{m[0]}:{m[2]}" for m in MALFORMED])
def test_malformed_payload_names_the_field_path(
    fixture: str, break_it: Callable[[dict[str, Any]], object], path: str
) -> None:
    payload = copy.deepcopy(load(fixture))
    break_it(payload)
    with pytest.raises(CarrierPayloadError) as error:
        parse_payload(fixture.split("/")[0], payload)
    assert error.value.path == path
    assert error.value.message
    assert str(error.value).startswith(f"{path}: ")
