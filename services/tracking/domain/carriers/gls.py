"""GLS Track & Trace API (`GET /public/v1/tracking/references/{refs}`, answer `{"parcels": [...]}`).

A parcel carries two vocabularies:
- `status` (with `statusDateTime`): GLS's parcel status — PREADVICE, INTRANSIT, INWAREHOUSE, INDELIVERY, DELIVERED,
  DELIVEREDPS, NOTDELIVERED, CANCELED. INPICKUP, PLANNEDPICKUP and RETURNED are also seen in GLS answers (documented
  by third-party GLS integrations, not by GLS itself); FINAL and NOTPICKEDUP are seen there too but their meaning is
  unclear, so they are left unmapped.
- `events[].code`: GLS's numeric event codes ("3.0"). GLS publishes no public list; only the two whose meaning a
  public GLS sample answer shows by its text are mapped, every other one is kept as "unknown".
Because the event codes are mostly unmapped, the parcel status is emitted as a scan of its own at `statusDateTime`:
it is what actually moves the shipment state. The shipment state machine ignores it when an event already
said the same at the same time.
"""

from __future__ import annotations

from typing import Any

from services.tracking.domain.carriers._common import (
    CarrierScan,
    as_dict,
    get_list,
    get_str,
    iso_timestamp,
    location,
    lookup,
    opt_str,
    scan,
    state,
    table,
)

CODES = table(
    {
        # --- parcel status ---
        "PREADVICE": state("label_created"),  # "parcel data entered into the GLS IT system", not handed over
        "PLANNEDPICKUP": state("label_created"),  # pickup at the shipper booked, parcel not with GLS yet
        "INPICKUP": state("in_transit"),  # handed over to GLS
        "INTRANSIT": state("in_transit"),
        "INWAREHOUSE": state("in_transit"),  # at a parcel center / depot
        "INDELIVERY": state("out_for_delivery"),
        "DELIVERED": state("delivered"),
        # Delivered *to a ParcelShop*: GLS's leg is done but the customer still has to collect it, so for the
        # customer it is the last step before delivery; "delivered" follows when it is collected.
        "DELIVEREDPS": state("out_for_delivery"),
        "NOTDELIVERED": state("failed_attempt"),
        # Shipment cancelled: the parcel will not reach the customer under this number, and the code says nothing
        # about why.
        "CANCELED": state("exception", "other"),
        "CANCELLED": state("exception", "other"),
        "RETURNED": state("returned_to_sender"),
        # --- numeric event codes ---
        "3.0": state("delivered"),  # "The parcel has been delivered."
        "11.0": state("out_for_delivery"),  # "The parcel is expected to be delivered during the day."
    }
)


def parse(payload: dict[str, Any]) -> list[CarrierScan]:
    scans: list[CarrierScan] = []
    for i, raw_parcel in enumerate(get_list(payload, "parcels", "")):
        path = f"parcels[{i}]"
        parcel = as_dict(raw_parcel, path)
        # `unitno` is the parcel number printed on the label; answers to a Track ID search may only carry `trackid`.
        key = "unitno" if opt_str(parcel, "unitno") or not opt_str(parcel, "trackid") else "trackid"
        tracking_number = get_str(parcel, key, path)
        for j, raw_event in enumerate(get_list(parcel, "events", path) if parcel.get("events") is not None else []):
            here = f"{path}.events[{j}]"
            event = as_dict(raw_event, here)
            code = get_str(event, "code", here)
            scanned_at = iso_timestamp(get_str(event, "timestamp", here), f"{here}.timestamp")
            where = location(opt_str(event, "location"), None, opt_str(event, "country"))
            text = opt_str(event, "description")
            scans.append(scan(tracking_number, code, lookup(CODES, code), scanned_at, where, text, None))
        status = opt_str(parcel, "status")
        if status:
            at = iso_timestamp(get_str(parcel, "statusDateTime", path), f"{path}.statusDateTime")
            scans.append(scan(tracking_number, status, lookup(CODES, status), at, None, None, None))
    return scans
