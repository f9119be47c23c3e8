"""UPS Track API (`GET /api/track/v1/details/{inquiryNumber}`, `trackResponse.shipment[].package[].activity[]`).

The raw code is `activity[].status.type`, UPS's activity status type: D delivered, I in transit, M billing
information received, MV billing information voided, P pickup, X exception, RS returned to shipper, DO/DD
delivered to origin/destination CFS (freight only), W warehousing, NA not available, O out for delivery (UPS
Tracking API appendix; the OpenAPI file itself only gives "X" as an example). The finer `status.code` is not
mapped: UPS documents no list of its values, and an "X" covers failed attempts, address problems and customs holds
alike, so its reason is "other". `date`/`time` are local time at the scan; `gmtOffset`, when present, says which.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from typing import Any

from services.tracking.domain.carriers._common import (
    CarrierPayloadError,
    CarrierScan,
    as_dict,
    get_dict,
    get_list,
    get_str,
    location,
    lookup,
    opt_dict,
    opt_str,
    scan,
    state,
    table,
    to_utc,
)

CODES = table(
    {
        "M": state("label_created"),  # billing information received: label printed, parcel not with UPS yet
        "MV": state("unknown"),  # billing information voided: the label was cancelled, says nothing about a parcel
        "P": state("in_transit"),  # picked up
        "I": state("in_transit"),
        "O": state("out_for_delivery"),
        "D": state("delivered"),
        "X": state("exception", "other"),
        "RS": state("returned_to_sender"),
        # Freight handed to a container freight station, not to the consignee: still on its way.
        "DO": state("in_transit"),
        "DD": state("in_transit"),
        "W": state("in_transit"),  # warehousing: stored on the way, no problem implied
        "NA": state("unknown"),  # UPS itself has no status
    }
)

_OFFSET = re.compile(r"^(?P<sign>[+-])(?P<h>\d{2}):?(?P<m>\d{2})$")


def parse(payload: dict[str, Any]) -> list[CarrierScan]:
    scans: list[CarrierScan] = []
    for i, raw_shipment in enumerate(get_list(get_dict(payload, "trackResponse", ""), "shipment", "trackResponse")):
        s_path = f"trackResponse.shipment[{i}]"
        for j, raw_package in enumerate(get_list(as_dict(raw_shipment, s_path), "package", s_path)):
            path = f"{s_path}.package[{j}]"
            package = as_dict(raw_package, path)
            tracking_number = get_str(package, "trackingNumber", path)
            estimated = _estimated_delivery(package, path)
            for k, raw_activity in enumerate(get_list(package, "activity", path)):
                here = f"{path}.activity[{k}]"
                activity = as_dict(raw_activity, here)
                status = get_dict(activity, "status", here)
                code = get_str(status, "type", f"{here}.status")
                address = opt_dict(opt_dict(activity, "location"), "address")
                where = location(
                    opt_str(address, "city"),
                    opt_str(address, "postalCode"),
                    opt_str(address, "countryCode") or opt_str(address, "country"),
                )
                scanned_at = _scanned_at(activity, here)
                text = opt_str(status, "description")
                scans.append(scan(tracking_number, code, lookup(CODES, code), scanned_at, where, text, estimated))
    return scans


def _scanned_at(activity: dict[str, Any], path: str) -> datetime:
    day = _strptime(get_str(activity, "date", path), "%Y%m%d", f"{path}.date")
    # UPS drops the leading zero of early times now and then ("74700" for 07:47:00).
    clock = _strptime(get_str(activity, "time", path).strip().zfill(6), "%H%M%S", f"{path}.time")
    local = datetime.combine(day.date(), clock.time())
    offset = opt_str(activity, "gmtOffset")
    if offset is None:
        return to_utc(local)  # no offset: a German shop's parcel is scanned in Germany
    match = _OFFSET.match(offset)
    if not match:
        raise CarrierPayloadError(f"{path}.gmtOffset", f"not an offset like +01:00: {offset!r}")
    delta = timedelta(hours=int(match["h"]), minutes=int(match["m"]))
    return to_utc(local.replace(tzinfo=timezone(delta if match["sign"] == "+" else -delta)))


def _estimated_delivery(package: dict[str, Any], path: str) -> date | None:
    # RDD (rescheduled) supersedes SDD (scheduled); DEL is the actual delivery day, not an estimate.
    found: dict[str, tuple[str, str]] = {}
    for n, entry in enumerate(package.get("deliveryDate") or []):
        if isinstance(entry, dict) and entry.get("type") in ("RDD", "SDD") and isinstance(entry.get("date"), str):
            found[entry["type"]] = (entry["date"], f"{path}.deliveryDate[{n}].date")
    for kind in ("RDD", "SDD"):
        if kind in found:
            value, where = found[kind]
            return _strptime(value, "%Y%m%d", where).date()
    return None


def _strptime(value: str, layout: str, path: str) -> datetime:
    try:
        return datetime.strptime(value.strip(), layout)
    except ValueError:
        what = "date (YYYYMMDD)" if "d" in layout else "time (HHMMSS)"
        raise CarrierPayloadError(path, f"not a UPS {what}: {value!r}") from None
