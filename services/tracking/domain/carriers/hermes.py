"""Hermes Germany parcel tracking (`{"barcode": ..., "parcelProgress": [...]}`, the myhermes.de track & trace answer).

Hermes publishes no public documentation of its status codes. The codes below are the stable English
`parcelStatus` enum of each `parcelProgress` entry as collected by open-source Hermes clients from real parcels and
the Hermes app (ha-parcel-integrations/ha-hermes, itsvic-dev/deliveries), plus the German status names of the
Hermes account view for the outcomes the English enum has no code for (failed attempts, address problems,
damage). Anything else, e.g. `EDL_BOOKED_DROPOFF` (a delivery preference booked by the recipient, not a movement),
stays "unknown". The localised `status`/`historyText` are display text only. The answer carries no scan location.
"""

from __future__ import annotations

from typing import Any

from services.tracking.domain.carriers._common import (
    CarrierScan,
    as_dict,
    get_list,
    get_str,
    iso_timestamp,
    lookup,
    opt_str,
    scan,
    state,
    table,
)

CODES = table(
    {
        "ANNOUNCED": state("label_created"),
        "ORDER_INFO_RECEIVED": state("label_created"),
        "PREANNOUNCED": state("label_created"),
        "PARCELSHOP_DROP_OFF": state("in_transit"),  # the shipper handed it in: Hermes has the parcel
        "SHIPMENT_PICKED_UP": state("in_transit"),
        "TAKEN_OVER_BY_HERMES": state("in_transit"),
        "HANDED_OVER_TO_HERMES": state("in_transit"),
        "PARCELSHOP_COLLECTED_BY_DRIVER": state("in_transit"),
        "IN_TRANSIT": state("in_transit"),
        "SORTED": state("in_transit"),
        "ARRIVED_AT_DEPOT": state("in_transit"),
        "ARRIVED_AT_DELIVERY_DEPOT": state("in_transit"),
        "ARRIVED_IN_DESTINATION_REGION": state("in_transit"),
        "DELIVERY_TOUR_STARTED": state("out_for_delivery"),
        "OUT_FOR_DELIVERY": state("out_for_delivery"),
        "NEXT_STOP": state("out_for_delivery"),
        # Waiting in a ParcelShop for the recipient: the last step before delivery, as GLS's DELIVEREDPS.
        "PARCELSHOP_ITEMS_FOR_COLLECTION": state("out_for_delivery"),
        "READY_FOR_COLLECTION": state("out_for_delivery"),
        "DELIVERED": state("delivered"),
        "DELIVERED_HOMEDELIVERY": state("delivered"),
        "DELIVERED_NEIGHBOUR": state("delivered"),
        "DELIVERED_PARCELSHOP": state("delivered"),
        "DELIVERED_PARCELBOX": state("delivered"),
        "DELIVERED_MAILBOX": state("delivered"),
        "DELIVERED_DROPOFF": state("delivered"),
        "PICKED_UP_BY_RECIPIENT": state("delivered"),
        "COLLECTED": state("delivered"),
        # Once Hermes starts sending a parcel back it will not reach the customer any more.
        "RETURN": state("returned_to_sender"),
        "RETURN_TO_SENDER": state("returned_to_sender"),
        "RETURN_DELIVERED_TO_SENDER": state("returned_to_sender"),
        "NOT_DELIVERABLE": state("exception", "other"),  # "not deliverable" without saying why
        # "Unknown whereabouts" starts an investigation; Hermes has not declared the parcel lost yet.
        "UNKNOWN_WHEREABOUTS": state("exception", "other"),
        # --- German account-view names for outcomes the English enum lacks ---
        "NICHT_ANGETROFFEN_1": state("failed_attempt"),  # recipient not met, 1st attempt
        "NICHT_ANGETROFFEN_2": state("failed_attempt"),
        "NICHT_ANGETROFFEN_3": state("failed_attempt"),
        "NICHT_ZUSTELLBAR_ADRESSFEHLER": state("exception", "address_problem"),
        "PRUEFUNG_AUF_BESCHAEDIGUNG": state("exception", "damaged"),  # checked for damage
        "ZUGESTELLT": state("delivered"),
    }
)


def parse(payload: dict[str, Any]) -> list[CarrierScan]:
    tracking_number = get_str(payload, "barcode", "")
    scans: list[CarrierScan] = []
    for i, raw_entry in enumerate(get_list(payload, "parcelProgress", "")):
        path = f"parcelProgress[{i}]"
        entry = as_dict(raw_entry, path)
        code = get_str(entry, "parcelStatus", path)
        scanned_at = iso_timestamp(get_str(entry, "timestamp", path), f"{path}.timestamp")
        text = opt_str(entry, "historyText") or opt_str(entry, "status")
        scans.append(scan(tracking_number, code, lookup(CODES, code), scanned_at, None, text, None))
    return scans
