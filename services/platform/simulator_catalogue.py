"""The simulated shop's world: a coffee roaster's catalogue, customers' names and towns, carriers and reviews."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Product:
    product_id: str
    sku: str
    name: str
    category: str
    price_minor: int
    #: German VAT: 7 % for coffee and tea (food), 19 % for everything else.
    vat_percent: int


PRODUCTS: tuple[Product, ...] = (
    Product("p-espresso-dortmund", "ESP-DOR-1000", "Espresso Dortmunder Röstung, ganze Bohne, 1 kg", "coffee", 2490, 7),
    Product("p-espresso-napoli", "ESP-NAP-500", "Espresso Napoli, 500 g", "coffee", 1490, 7),
    Product("p-filter-hausmischung", "FIL-HAUS-500", "Filterkaffee Hausmischung, 500 g", "coffee", 1290, 7),
    Product("p-aethiopien-yirgacheffe", "FIL-ETH-250", "Äthiopien Yirgacheffe, 250 g", "coffee", 990, 7),
    Product("p-kolumbien-huila", "FIL-COL-250", "Kolumbien Huila, 250 g", "coffee", 890, 7),
    Product("p-entkoffeiniert", "ESP-DEC-500", "Entkoffeiniert (Swiss Water), 500 g", "coffee", 1590, 7),
    Product("p-darjeeling-first-flush", "TEA-DARJ-FF-100", "Darjeeling First Flush, 100 g", "tea", 890, 7),
    Product("p-earl-grey", "TEA-EARL-100", "Earl Grey Premium, 100 g", "tea", 690, 7),
    Product("p-sencha", "TEA-SEN-100", "Grüner Tee Sencha, 100 g", "tea", 790, 7),
    Product("p-rooibos-vanille", "TEA-ROO-100", "Rooibos Vanille, 100 g", "tea", 550, 7),
    Product("p-handfilter-keramik", "ACC-HF-KER-02", "Handfilter Keramik Größe 2", "accessories", 1990, 19),
    Product("p-filtertueten", "ACC-FT-02-100", "Filtertüten Größe 2, 100 Stück", "accessories", 390, 19),
    Product("p-milchkaennchen", "ACC-MK-350", "Milchkännchen Edelstahl 350 ml", "accessories", 1490, 19),
    Product("p-kaffeedose", "ACC-DOSE-500", "Kaffeedose mit Aromaventil, 500 g", "accessories", 2490, 19),
    Product("p-handmuehle", "ACC-HM-C40", "Handmühle Edelstahl-Mahlwerk", "accessories", 12900, 19),
    Product("p-teekanne-glas", "ACC-TK-1200", "Teekanne Glas 1,2 l mit Sieb", "accessories", 2990, 19),
)
#: Most baskets are coffee; the weights follow PRODUCTS.
PRODUCT_WEIGHTS = (14, 10, 12, 7, 6, 4, 5, 5, 4, 3, 3, 6, 2, 2, 1, 2)

FREE_SHIPPING_FROM_MINOR = 3900
SHIPPING_MINOR = 495
SHIPPING_VAT_PERCENT = 19

#: code -> (percent off, fixed amount off, minimum subtotal)
DISCOUNT_CODES = {"WILLKOMMEN10": (10, 0, 0), "SOMMER5": (0, 500, 2500), "TREUE15": (15, 0, 4000)}


@dataclass(frozen=True)
class Place:
    city: str
    postcode: str
    country: str
    street: str
    time_zone: str


PLACES: tuple[Place, ...] = (
    Place("Berlin", "10115", "DE", "Invalidenstraße", "Europe/Berlin"),
    Place("Berlin", "10437", "DE", "Kastanienallee", "Europe/Berlin"),
    Place("Berlin", "10997", "DE", "Wrangelstraße", "Europe/Berlin"),
    Place("Berlin", "12043", "DE", "Karl-Marx-Straße", "Europe/Berlin"),
    Place("Hamburg", "20357", "DE", "Schanzenstraße", "Europe/Berlin"),
    Place("Hamburg", "22765", "DE", "Große Rainstraße", "Europe/Berlin"),
    Place("München", "80802", "DE", "Leopoldstraße", "Europe/Berlin"),
    Place("München", "81667", "DE", "Weißenburger Straße", "Europe/Berlin"),
    Place("Köln", "50674", "DE", "Zülpicher Straße", "Europe/Berlin"),
    Place("Köln", "50823", "DE", "Venloer Straße", "Europe/Berlin"),
    Place("Dortmund", "44137", "DE", "Kampstraße", "Europe/Berlin"),
    Place("Dortmund", "44139", "DE", "Kreuzstraße", "Europe/Berlin"),
    Place("Dortmund", "44147", "DE", "Münsterstraße", "Europe/Berlin"),
    Place("Leipzig", "04107", "DE", "Karl-Liebknecht-Straße", "Europe/Berlin"),
    Place("Stuttgart", "70173", "DE", "Königstraße", "Europe/Berlin"),
    Place("Düsseldorf", "40213", "DE", "Bolkerstraße", "Europe/Berlin"),
    Place("Bremen", "28195", "DE", "Obernstraße", "Europe/Berlin"),
    Place("Wien", "1070", "AT", "Neubaugasse", "Europe/Vienna"),
    Place("Zürich", "8004", "CH", "Langstrasse", "Europe/Zurich"),
)
PLACE_WEIGHTS = (5, 4, 3, 3, 4, 3, 4, 3, 4, 3, 4, 3, 2, 3, 3, 3, 2, 2, 1)

#: Parcel centres on the way: where in-transit scans happen.
DEPOTS = (("Hannover", "30179"), ("Kassel", "34123"), ("Nürnberg", "90451"), ("Leipzig", "04435"), ("Unna", "59423"))

GERMAN_FIRST = (
    ("Anna", "frau"), ("Lena", "frau"), ("Sophie", "frau"), ("Marie", "frau"), ("Julia", "frau"), ("Katharina", "frau"),
    ("Emine", "frau"), ("Agnieszka", "frau"), ("Lukas", "herr"), ("Leon", "herr"), ("Jonas", "herr"),
    ("Felix", "herr"), ("Paul", "herr"), ("Maximilian", "herr"), ("Mehmet", "herr"), ("Tobias", "herr"),
    ("Alex", "divers"), ("Kim", "none"),
)  # fmt: skip
GERMAN_LAST = (
    "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz", "Hoffmann",
    "Koch", "Richter", "Klein", "Wolf", "Schröder", "Neumann", "Zimmermann", "Krüger", "Yılmaz", "Kaya", "Nowak",
)  # fmt: skip
ENGLISH_FIRST = (
    ("Emma", "frau"), ("Charlotte", "frau"), ("Amelia", "frau"), ("Oliver", "herr"), ("James", "herr"),
    ("Harry", "herr"), ("Sam", "none"),
)  # fmt: skip
ENGLISH_LAST = ("Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Evans", "O'Brien")
MAIL_DOMAINS = ("example.de", "example.com", "example.org", "example.net")

#: Where a new customer's first order comes from (`order.placed` `channel`); most come through the web shop.
FIRST_ORDER_CHANNELS = ("web_shop", "amazon", "ebay", "phone", "social", "point_of_sale")
FIRST_ORDER_CHANNEL_WEIGHTS = (84, 7, 3, 3, 2, 1)
ACQUISITION_CHANNELS = ("organic_search", "paid_search", "social", "newsletter", "referral", "affiliate", "direct")
ACQUISITION_WEIGHTS = (30, 20, 15, 5, 10, 5, 15)
MOBILE_PREFIXES = ("151", "152", "157", "160", "162", "170", "172", "176", "177")

CARRIERS = ("dhl", "dpd", "gls", "hermes", "ups")
CARRIER_WEIGHTS = (45, 15, 12, 18, 10)
#: The carriers' own status codes for our statuses (what their webhooks send).
RAW_STATUS = {
    "dhl": {"in_transit": "transit", "out_for_delivery": "transit", "delivered": "delivered",
            "failed_attempt": "failure", "exception": "failure", "lost": "failure", "returned_to_sender": "failure"},
    "dpd": {"in_transit": "ON_THE_ROAD", "out_for_delivery": "AT_DELIVERY_DEPOT", "delivered": "DELIVERED",
            "failed_attempt": "DELIVERY_FAILED", "exception": "PROBLEM", "lost": "PROBLEM",
            "returned_to_sender": "RETURNED"},
    "gls": {"in_transit": "INTRANSIT", "out_for_delivery": "INDELIVERY", "delivered": "DELIVERED",
            "failed_attempt": "NOTDELIVERED", "exception": "DELAYED", "lost": "CANCELED",
            "returned_to_sender": "RETURNED"},
    "hermes": {"in_transit": "2000", "out_for_delivery": "3000", "delivered": "4000", "failed_attempt": "3500",
               "exception": "9000", "lost": "9900", "returned_to_sender": "5000"},
    "ups": {"in_transit": "I", "out_for_delivery": "O", "delivered": "D", "failed_attempt": "X", "exception": "X",
            "lost": "X", "returned_to_sender": "RS"},
}  # fmt: skip


def tracking_number(carrier: str, digits: str) -> str:
    """A number in the carrier's format from 20 random digits."""
    return {
        "dhl": "00340434" + digits[:12],
        "dpd": "0" + digits[:13],
        "gls": digits[:11],
        "hermes": "H" + digits[:19],
        "ups": "1ZW" + digits[:3] + "E6" + digits[3:13],
    }[carrier]


def tracking_url(carrier: str, number: str) -> str:
    return {
        "dhl": "https://www.dhl.de/de/privatkunden/dhl-sendungsverfolgung.html?piececode={}",
        "dpd": "https://tracking.dpd.de/status/de_DE/parcel/{}",
        "gls": "https://gls-group.com/DE/de/paketverfolgung?match={}",
        "hermes": "https://www.myhermes.de/empfangen/sendungsverfolgung/sendungsinformation#{}",
        "ups": "https://www.ups.com/track?loc=de_DE&tracknum={}",
    }[carrier].format(number)


#: (rating, title, body) per language; the story picks by how the delivery went.
REVIEWS = {
    "de": {
        "good": (
            (5, "Bester Espresso seit Langem", "Schokoladig, wenig Säure, perfekt für den Siebträger."),
            (5, "Gerne wieder", "Frisch geröstet, schön verpackt und schnell da."),
            (4, "Sehr lecker", "Toller Geschmack, nur die Tüte könnte wiederverschließbar sein."),
            (5, "Top Qualität", "Man schmeckt, dass die Bohnen frisch geröstet sind."),
        ),
        "mixed": ((3, "Ganz okay", "Geschmack gut, aber für den Preis hatte ich mehr erwartet."),),
        "bad": (
            (2, "Lieferung zu spät", "Der Kaffee ist gut, aber das Paket kam Tage später als versprochen."),
            (1, "Enttäuscht", "Viel zu bitter und die Verpackung war beschädigt."),
        ),
    },
    "en": {
        "good": (
            (5, "Great coffee", "Rich and smooth, and it arrived quickly."),
            (4, "Very nice", "Lovely aroma, I will order again."),
        ),
        "mixed": ((3, "It's fine", "Tastes good but a bit pricey."),),
        "bad": ((2, "Late delivery", "Good coffee, but the parcel came days late."),),
    },
}

RETURN_REASONS = ("too_small", "not_as_described", "damaged", "quality", "changed_mind", "changed_mind", "other")
