"""DPD Parcel Life Cycle (`parcellifecycleResponse.parcelLifeCycleData`, DPD Germany tracking / Cloud Service).

Each `scanInfo.scan[]` entry is one physical or system scan; its `scanData.scanType.code` is DPD's two-digit scan
code. Source for the codes: DPD's own integration docs ("Statusdata via SFTP – Scan Codes & Events", DPD NL/BE),
which list 01-06, 08-10 and 12-15. Codes those docs do not list (07, 11, 16+) are not guessed and stay "unknown".

`statusInfo[].status` is DPD's coarse milestone list (ACCEPTED … DELIVERED). It is mapped for callers that only
have a milestone, but scans are parsed from `scanInfo` alone: statusInfo also contains not-yet-reached
milestones (DPD's forecast) and dates in a display format ("dd.MM.yyyy, HH:mm").
"""

from __future__ import annotations

import re
from typing import Any

from services.tracking.domain.carriers._common import (
    CarrierScan,
    Normalised,
    as_dict,
    get_dict,
    get_list,
    get_str,
    iso_timestamp,
    location,
    lookup,
    opt_dict,
    opt_str,
    scan,
    state,
    table,
)

CODES = table(
    {
        # --- scan codes (scanData.scanType.code) ---
        "01": state("in_transit"),  # consolidation depot between sending and destination depot
        "02": state("in_transit"),  # inbound at the destination depot
        "03": state("out_for_delivery"),
        # Driver's return: back at the depot undelivered. The attempt itself is scan 14; a 04 without a 14 means the
        # driver never got there, which is a delay, not a failed attempt.
        "04": state("in_transit"),
        "05": state("in_transit"),  # pick-up: first scan at the sending depot
        # "System return": DPD sends the parcel back to the shipper after an exception (e.g. invalid address).
        "06": state("returned_to_sender"),
        "08": state("in_transit"),  # warehouse: stored at the destination depot, delivery next day
        "09": state("in_transit"),  # inbound again at the destination depot after an exception
        "10": state("in_transit"),  # HUB scan
        # Arrival at customs clearance is a routine step for non-EU parcels, not yet a problem.
        "12": state("in_transit"),
        "13": state("delivered"),  # delivered, or collected from a DPD Pickup parcel shop
        "14": state("failed_attempt"),
        "15": state("in_transit"),  # collected by the driver from the shipper
        # --- Parcel Life Cycle milestones (statusInfo[].status) ---
        "SHIPMENT": state("label_created"),  # order data transmitted to DPD, parcel not handed over yet
        "ACCEPTED": state("in_transit"),  # "Parcel handed to DPD"
        "AT_SENDING_DEPOT": state("in_transit"),
        "ON_THE_ROAD": state("in_transit"),
        "AT_DELIVERY_DEPOT": state("in_transit"),
        "OUT_FOR_DELIVERY": state("out_for_delivery"),
        "DELIVERED": state("delivered"),
    }
)

#: DPD writes a scan's place as "Hamburg (DE)".
_PLACE = re.compile(r"^(?P<city>.*?)\s*\((?P<country>[A-Za-z]{2})\)\s*$")

_ROOT = "parcellifecycleResponse.parcelLifeCycleData"


def normalise(raw_code: str) -> Normalised:
    code = raw_code.strip()
    # The JSON API sends scan codes as "13" in one place and "1" in another; the table is keyed two-digit.
    return lookup(CODES, code.zfill(2) if code.isdigit() else code)


def parse(payload: dict[str, Any]) -> list[CarrierScan]:
    data = get_dict(get_dict(payload, "parcellifecycleResponse", ""), "parcelLifeCycleData", "parcellifecycleResponse")
    tracking_number = get_str(get_dict(data, "shipmentInfo", _ROOT), "parcelLabelNumber", f"{_ROOT}.shipmentInfo")
    scan_info = data.get("scanInfo")
    if scan_info is None:
        return []  # announced but not scanned yet: DPD omits the block
    scans: list[CarrierScan] = []
    for i, raw_scan in enumerate(get_list(as_dict(scan_info, f"{_ROOT}.scanInfo"), "scan", f"{_ROOT}.scanInfo")):
        path = f"{_ROOT}.scanInfo.scan[{i}]"
        entry = as_dict(raw_scan, path)
        scan_data = get_dict(entry, "scanData", path)
        code = get_str(get_dict(scan_data, "scanType", f"{path}.scanData"), "code", f"{path}.scanData.scanType")
        # `date` is local wall-clock time without an offset, hence German time.
        scanned_at = iso_timestamp(get_str(entry, "date", path), f"{path}.date")
        scans.append(scan(tracking_number, code, normalise(code), scanned_at, _where(scan_data), _text(entry), None))
    return scans


def _where(scan_data: dict[str, Any]) -> dict[str, str] | None:
    place = opt_str(scan_data, "location")
    country = opt_str(scan_data, "country")
    match = _PLACE.match(place) if place else None
    if match:
        place = match["city"] or None
        # `country` is sometimes numeric (ISO 3166 numeric, "276"); the place's suffix is alpha-2 then.
        if not (country and len(country) == 2 and country.isalpha()):
            country = match["country"]
    return location(place, None, country)


def _text(entry: dict[str, Any]) -> str | None:
    content = (opt_dict(entry, "scanDescription") or {}).get("content")
    lines = (
        [line.strip() for line in content if isinstance(line, str) and line.strip()]
        if isinstance(content, list)
        else []
    )
    return " ".join(lines) or None
