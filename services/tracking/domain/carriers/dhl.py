"""DHL "Shipment Tracking – Unified" API (`GET /track/shipments`).

Source: DHL developer support, "What are the different status codes available in the DHL Shipment Tracking -
Unified API?": `statusCode` is one of pre-transit, transit, delivered, failure, unknown, both on the shipment's
`status` and on each of its `events`. DHL says finer codes ("Out for Delivery", "Return to Origin", "Ready for
Pick-up") are planned but not available, so they are deliberately not mapped: when they appear they stay "unknown"
(kept on the timeline) until DHL documents them. Free-text `status`/`description` differ per DHL division and
language, so they are carried as description only and never parsed for meaning.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from services.tracking.domain.carriers._common import (
    CarrierScan,
    as_dict,
    get_list,
    get_str,
    iso_local_date,
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
        "pre-transit": state("label_created"),  # "awaiting shipment": data is with DHL, the parcel is not
        "transit": state("in_transit"),  # includes "loaded onto the delivery vehicle": no finer code exists
        "delivered": state("delivered"),
        # "could not be delivered … no name on the doorbell, recipient moved … customs, expired, returned": the
        # code alone does not say which, so the reason is "other" rather than a guess from the free text.
        "failure": state("exception", "other"),
        "unknown": state("unknown"),  # DHL's own "a simplified status code is not available"
    }
)


def parse(payload: dict[str, Any]) -> list[CarrierScan]:
    scans: list[CarrierScan] = []
    for i, raw_shipment in enumerate(get_list(payload, "shipments", "")):
        path = f"shipments[{i}]"
        shipment = as_dict(raw_shipment, path)
        tracking_number = get_str(shipment, "id", path)
        estimated = _estimated_delivery(shipment, path)
        events = shipment.get("events")
        if events is None or events == []:
            # Some DHL divisions answer with the summary status only; it then is the one event there is.
            if shipment.get("status") is not None:
                summary = as_dict(shipment["status"], f"{path}.status")
                scans.append(_event(summary, f"{path}.status", tracking_number, estimated))
            continue
        for j, raw_event in enumerate(get_list(shipment, "events", path)):
            here = f"{path}.events[{j}]"
            scans.append(_event(as_dict(raw_event, here), here, tracking_number, estimated))
    return scans


def _event(event: dict[str, Any], path: str, tracking_number: str, estimated: date | None) -> CarrierScan:
    code = get_str(event, "statusCode", path)
    scanned_at = iso_timestamp(get_str(event, "timestamp", path), f"{path}.timestamp")
    address = opt_dict(opt_dict(event, "location"), "address")
    where = location(
        opt_str(address, "addressLocality"), opt_str(address, "postalCode"), opt_str(address, "countryCode")
    )
    text = opt_str(event, "description") or opt_str(event, "status")
    return scan(tracking_number, code, lookup(CODES, code), scanned_at, where, text, estimated)


def _estimated_delivery(shipment: dict[str, Any], path: str) -> date | None:
    eta = opt_str(shipment, "estimatedTimeOfDelivery")
    if eta:
        return iso_local_date(eta, f"{path}.estimatedTimeOfDelivery")
    frame = opt_dict(shipment, "estimatedDeliveryTimeFrame")
    start = opt_str(frame, "estimatedFrom")
    return iso_local_date(start, f"{path}.estimatedDeliveryTimeFrame.estimatedFrom") if start else None
