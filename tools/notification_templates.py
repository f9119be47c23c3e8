"""The default notification templates, written out as `services/notifications/templates/<message>.<locale>.j2`.

    make templates        # after editing a text here; the generated files are committed

Why generated: every message exists in English and in German twice (informal "du", formal "Sie", the
merchant's choice), and all share one shape (greeting, paragraphs, sign-off). Writing the texts once here
keeps the three versions side by side for review and the shape in one place. The frame around the HTML
(logo, colour, legal footer) is `_page.html.j2`, applied by the renderer; greeting and sign-off come from
`services/notifications/domain/messages.py`, so a merchant's own template gets them too.
"""

# ruff: noqa: E501  (one sentence per line reads better than wrapped template text)

from __future__ import annotations

from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "services" / "notifications" / "templates"

ORDER = "{% if order_number or order_id %} {{ order_number or order_id }}{% endif %}"

MESSAGES = {
    "points_earned": {
        "de": (
            "Du hast {{ points|number(locale) }} Punkte gesammelt",
            [
                "{% if order_id %}vielen Dank für deine Bestellung"
                + ORDER
                + "! Dafür schreiben wir dir {{ points|number(locale) }} Punkte gut.{% else %}wir haben dir {{ points|number(locale) }} Punkte gutgeschrieben.{% endif %}",
                "Dein Punktestand: {{ balance|number(locale) }} Punkte.",
            ],
        ),
        "en": (
            "You earned {{ points|number(locale) }} points",
            [
                "{% if order_id %}thank you for your order"
                + ORDER
                + "! We have added {{ points|number(locale) }} points to your account.{% else %}we have added {{ points|number(locale) }} points to your account.{% endif %}",
                "Your balance: {{ balance|number(locale) }} points.",
            ],
        ),
    },
    "points_pending": {
        "de": (
            "{{ points|number(locale) }} Punkte für deine Bestellung vorgemerkt",
            [
                "für deine Bestellung" + ORDER + " haben wir dir {{ points|number(locale) }} Punkte vorgemerkt.",
                "Sie werden dir gutgeschrieben, sobald die Bestellung angekommen und die Rückgabefrist vorbei ist.",
            ],
        ),
        "en": (
            "{{ points|number(locale) }} points reserved for your order",
            [
                "we have reserved {{ points|number(locale) }} points for your order" + ORDER + ".",
                "They become yours once the order has arrived and the return period is over.",
            ],
        ),
    },
    "points_confirmed": {
        "de": (
            "{{ points|number(locale) }} Punkte sind jetzt verfügbar",
            [
                "die Punkte für deine Bestellung"
                + ORDER
                + " sind dir jetzt gutgeschrieben: {{ points|number(locale) }} Punkte.",
                "Dein Punktestand: {{ balance|number(locale) }} Punkte.",
            ],
        ),
        "en": (
            "{{ points|number(locale) }} points are now yours",
            [
                "the points for your order" + ORDER + " are now in your account: {{ points|number(locale) }} points.",
                "Your balance: {{ balance|number(locale) }} points.",
            ],
        ),
    },
    "points_reversed": {
        "de": (
            "Dein Punktestand wurde angepasst",
            [
                "wegen einer Rückgabe oder Erstattung zu deiner Bestellung"
                + ORDER
                + " haben wir {{ points|number(locale) }} Punkte zurückgebucht.",
                "Dein Punktestand: {{ balance|number(locale) }} Punkte.",
            ],
        ),
        "en": (
            "Your points balance was adjusted",
            [
                "because of a return or refund on your order"
                + ORDER
                + " we have taken back {{ points|number(locale) }} points.",
                "Your balance: {{ balance|number(locale) }} points.",
            ],
        ),
    },
    "points_expiring": {
        "de": (
            "{{ points|number(locale) }} Punkte verfallen bald",
            [
                "am {{ expires_at|day(locale) }} verfallen {{ points|number(locale) }} deiner Punkte.",
                "Löse sie vorher für eine Prämie ein – oder sammle mit deiner nächsten Bestellung neue, dann bleiben sie dir erhalten.",
            ],
        ),
        "en": (
            "{{ points|number(locale) }} points expire soon",
            [
                "{{ points|number(locale) }} of your points expire on {{ expires_at|day(locale) }}.",
                "Redeem them for a reward before then, or collect new ones with your next order to keep them.",
            ],
        ),
    },
    "points_expired": {
        "de": (
            "{{ points|number(locale) }} Punkte sind verfallen",
            [
                "leider sind {{ points|number(locale) }} deiner Punkte verfallen.",
                "Mit deiner nächsten Bestellung sammelst du wieder neue.",
            ],
        ),
        "en": (
            "{{ points|number(locale) }} points have expired",
            [
                "unfortunately {{ points|number(locale) }} of your points have expired.",
                "Your next order earns new ones.",
            ],
        ),
    },
    "tier_reached": {
        "de": (
            "Willkommen im Status {{ tier_name_de }}",
            [
                "du hast den Status {{ tier_name_de }} erreicht – danke für deine Treue!",
                "{% if earn_multiplier not in ('1', '1.0', '1.00') %}Ab jetzt sammelst du {{ earn_multiplier }}-fach Punkte.{% endif %}{% if free_shipping %} Deine Bestellungen versenden wir kostenlos.{% endif %}",
            ],
        ),
        "en": (
            "Welcome to {{ tier_name_en }}",
            [
                "you have reached {{ tier_name_en }}: thank you for your loyalty!",
                "{% if earn_multiplier not in ('1', '1.0', '1.00') %}From now on you collect {{ earn_multiplier }}x points.{% endif %}{% if free_shipping %} Your orders ship free.{% endif %}",
            ],
        ),
    },
    "reward_redeemed": {
        "de": (
            "Dein Gutscheincode: {{ code }}",
            [
                "du hast {{ points|number(locale) }} Punkte für „{{ reward_name }}“ eingelöst.",
                "Dein Code: {{ code }} – einmal einlösbar bis {{ expires_at|day(locale) }}.",
            ],
        ),
        "en": (
            "Your voucher code: {{ code }}",
            [
                "you have redeemed {{ points|number(locale) }} points for “{{ reward_name }}”.",
                "Your code: {{ code }}, valid once until {{ expires_at|day(locale) }}.",
            ],
        ),
    },
    "membership_changed": {
        "de": (
            "{% if change == 'cancelled' %}Deine Mitgliedschaft ist gekündigt{% elif change == 'expired' %}Deine Mitgliedschaft ist abgelaufen{% else %}Deine Mitgliedschaft ist aktiv{% endif %}",
            [
                "{% if change == 'cancelled' %}deine Mitgliedschaft ist gekündigt.{% if valid_until %} Deine Vorteile bleiben dir bis zum {{ valid_until|day(locale) }}.{% endif %}{% elif change == 'expired' %}deine Mitgliedschaft ist abgelaufen. Du kannst sie jederzeit wieder abschließen.{% else %}deine Mitgliedschaft ist aktiv{% if valid_until %} bis zum {{ valid_until|day(locale) }}{% endif %}.{% endif %}",
                "{% if change not in ('cancelled', 'expired') %}{% if earn_multiplier not in ('1', '1.0', '1.00') %}Du sammelst {{ earn_multiplier }}-fach Punkte.{% endif %}{% if free_shipping %} Der Versand ist für dich kostenlos.{% endif %}{% endif %}",
            ],
        ),
        "en": (
            "{% if change == 'cancelled' %}Your membership is cancelled{% elif change == 'expired' %}Your membership has expired{% else %}Your membership is active{% endif %}",
            [
                "{% if change == 'cancelled' %}your membership is cancelled.{% if valid_until %} You keep its benefits until {{ valid_until|day(locale) }}.{% endif %}{% elif change == 'expired' %}your membership has expired. You can join again at any time.{% else %}your membership is active{% if valid_until %} until {{ valid_until|day(locale) }}{% endif %}.{% endif %}",
                "{% if change not in ('cancelled', 'expired') %}{% if earn_multiplier not in ('1', '1.0', '1.00') %}You collect {{ earn_multiplier }}x points.{% endif %}{% if free_shipping %} Shipping is free for you.{% endif %}{% endif %}",
            ],
        ),
    },
    "tenure_voucher": {
        "de": (
            "Danke für {{ years }} {{ 'Jahr' if years == 1 else 'Jahre' }} mit uns!",
            [
                "seit {{ years }} {{ 'Jahr' if years == 1 else 'Jahren' }} kaufst du bei uns ein – danke dafür!",
                "Als Dankeschön: {{ percent_off }} % Rabatt mit dem Code {{ code }}, gültig bis {{ code_expires_at|day(locale) }}.",
            ],
        ),
        "en": (
            "Thank you for {{ years }} {{ 'year' if years == 1 else 'years' }} with us!",
            [
                "you have been shopping with us for {{ years }} {{ 'year' if years == 1 else 'years' }}: thank you!",
                "As a thank-you: {{ percent_off }}% off with the code {{ code }}, valid until {{ code_expires_at|day(locale) }}.",
            ],
        ),
    },
    "shipped": {
        "de": (
            "Deine Bestellung ist unterwegs",
            [
                "gute Nachrichten: dein Paket ist unterwegs{% if carrier_name %} mit {{ carrier_name }}{% endif %}{% if tracking_number %} (Sendungsnummer {{ tracking_number }}){% endif %}.",
                "{% if estimated_delivery_date %}Voraussichtliche Zustellung: {{ estimated_delivery_date|day(locale) }}.{% endif %}{% if link %} Hier kannst du es verfolgen: {{ link }}{% endif %}",
            ],
        ),
        "en": (
            "Your order is on its way",
            [
                "good news: your parcel is on its way{% if carrier_name %} with {{ carrier_name }}{% endif %}{% if tracking_number %} (tracking number {{ tracking_number }}){% endif %}.",
                "{% if estimated_delivery_date %}Expected delivery: {{ estimated_delivery_date|day(locale) }}.{% endif %}{% if link %} Follow it here: {{ link }}{% endif %}",
            ],
        ),
    },
    "out_for_delivery": {
        "de": (
            "Dein Paket kommt heute",
            [
                "dein Paket{% if carrier_name %} von {{ carrier_name }}{% endif %} ist heute in der Zustellung.",
                "{% if link %}Sendungsverfolgung: {{ link }}{% endif %}",
            ],
        ),
        "en": (
            "Your parcel arrives today",
            [
                "your parcel{% if carrier_name %} from {{ carrier_name }}{% endif %} is out for delivery today.",
                "{% if link %}Tracking: {{ link }}{% endif %}",
            ],
        ),
    },
    "delivered": {
        "de": (
            "Dein Paket ist angekommen",
            [
                "dein Paket wurde zugestellt. Wir wünschen dir viel Freude damit!",
                "{% if link %}Alle Details: {{ link }}{% endif %}",
            ],
        ),
        "en": (
            "Your parcel has arrived",
            [
                "your parcel has been delivered. We hope you enjoy it!",
                "{% if link %}All details: {{ link }}{% endif %}",
            ],
        ),
    },
    "delay_apology": {
        "de": (
            "Dein Paket verspätet sich – das tut uns leid",
            [
                "dein Paket kommt leider später als versprochen{% if promised_delivery_date %} (zugesagt war der {{ promised_delivery_date|day(locale) }}){% endif %}. Das tut uns leid.{% if goodwill_points %} Als kleine Entschuldigung haben wir dir {{ goodwill_points|number(locale) }} Punkte gutgeschrieben.{% endif %}",
                "{% if estimated_delivery_date %}Neue voraussichtliche Zustellung: {{ estimated_delivery_date|day(locale) }}.{% endif %}{% if link %} Aktueller Stand: {{ link }}{% endif %}",
            ],
        ),
        "en": (
            "Your parcel is late, and we are sorry",
            [
                "unfortunately your parcel is later than promised{% if promised_delivery_date %} (we promised {{ promised_delivery_date|day(locale) }}){% endif %}. We are sorry.{% if goodwill_points %} As an apology, we have added {{ goodwill_points|number(locale) }} points to your account.{% endif %}",
                "{% if estimated_delivery_date %}New expected delivery: {{ estimated_delivery_date|day(locale) }}.{% endif %}{% if link %} Latest status: {{ link }}{% endif %}",
            ],
        ),
    },
    "delivery_exception": {
        "de": (
            "Problem bei der Zustellung deines Pakets",
            [
                "{% if reason == 'failed_attempt' %}der Paketdienst hat dich leider nicht angetroffen. Er versucht es erneut oder hinterlegt das Paket.{% else %}der Paketdienst meldet ein Problem mit deinem Paket. Wir kümmern uns darum und melden uns.{% endif %}",
                "{% if link %}Aktueller Stand: {{ link }}{% endif %}",
            ],
        ),
        "en": (
            "A problem with the delivery of your parcel",
            [
                "{% if reason == 'failed_attempt' %}the carrier could not reach you. They will try again or leave the parcel at a pick-up point.{% else %}the carrier reports a problem with your parcel. We are looking after it and will get back to you.{% endif %}",
                "{% if link %}Latest status: {{ link }}{% endif %}",
            ],
        ),
    },
}

MESSAGES.update(
    {
        "order_received": {
            "de": (
                "Danke für deine Bestellung" + ORDER,
                [
                    "vielen Dank für deine Bestellung"
                    + ORDER
                    + ": {{ items }} Artikel für {{ total_minor|money(currency, locale) }}.",
                    "Wir packen sie jetzt ein und sagen dir Bescheid, sobald sie unterwegs ist.",
                ],
            ),
            "en": (
                "Thank you for your order" + ORDER,
                [
                    "thank you for your order"
                    + ORDER
                    + ": {{ items }} {{ 'item' if items == 1 else 'items' }} for {{ total_minor|money(currency, locale) }}.",
                    "We are packing it now and will let you know as soon as it is on its way.",
                ],
            ),
        },
        "cart_reminder": {
            "de": (
                "Dein Warenkorb wartet auf dich",
                [
                    "in deinem Warenkorb liegen noch {{ items }} Artikel für {{ total_minor|money(currency, locale) }}.",
                    "Hier geht es weiter: {{ recovery_url }}",
                ],
            ),
            "en": (
                "Your basket is waiting for you",
                [
                    "your basket still holds {{ items }} {{ 'item' if items == 1 else 'items' }} for {{ total_minor|money(currency, locale) }}.",
                    "Pick up where you left off: {{ recovery_url }}",
                ],
            ),
        },
        "review_request": {
            "de": (
                "Wie gefällt dir deine Bestellung?",
                [
                    "deine Bestellung" + ORDER + " ist seit ein paar Tagen bei dir. Wie zufrieden bist du?",
                    "Mit einer Bewertung hilfst du anderen bei der Wahl – und uns, noch besser zu werden.",
                ],
            ),
            "en": (
                "How do you like your order?",
                [
                    "your order" + ORDER + " arrived a few days ago. How happy are you with it?",
                    "A review helps other shoppers choose, and helps us get even better.",
                ],
            ),
        },
    }
)


SIE = {
    "points_earned": (
        "Sie haben {{ points|number(locale) }} Punkte gesammelt",
        [
            "{% if order_id %}vielen Dank für Ihre Bestellung"
            + ORDER
            + "! Dafür schreiben wir Ihnen {{ points|number(locale) }} Punkte gut.{% else %}wir haben Ihnen {{ points|number(locale) }} Punkte gutgeschrieben.{% endif %}",
            "Ihr Punktestand: {{ balance|number(locale) }} Punkte.",
        ],
    ),
    "points_pending": (
        "{{ points|number(locale) }} Punkte für Ihre Bestellung vorgemerkt",
        [
            "für Ihre Bestellung" + ORDER + " haben wir Ihnen {{ points|number(locale) }} Punkte vorgemerkt.",
            "Sie werden Ihnen gutgeschrieben, sobald die Bestellung angekommen und die Rückgabefrist vorbei ist.",
        ],
    ),
    "points_confirmed": (
        "{{ points|number(locale) }} Punkte sind jetzt verfügbar",
        [
            "die Punkte für Ihre Bestellung"
            + ORDER
            + " sind Ihnen jetzt gutgeschrieben: {{ points|number(locale) }} Punkte.",
            "Ihr Punktestand: {{ balance|number(locale) }} Punkte.",
        ],
    ),
    "points_reversed": (
        "Ihr Punktestand wurde angepasst",
        [
            "wegen einer Rückgabe oder Erstattung zu Ihrer Bestellung"
            + ORDER
            + " haben wir {{ points|number(locale) }} Punkte zurückgebucht.",
            "Ihr Punktestand: {{ balance|number(locale) }} Punkte.",
        ],
    ),
    "points_expiring": (
        "{{ points|number(locale) }} Punkte verfallen bald",
        [
            "am {{ expires_at|day(locale) }} verfallen {{ points|number(locale) }} Ihrer Punkte.",
            "Lösen Sie sie vorher für eine Prämie ein – oder sammeln Sie mit Ihrer nächsten Bestellung neue, dann bleiben sie Ihnen erhalten.",
        ],
    ),
    "points_expired": (
        "{{ points|number(locale) }} Punkte sind verfallen",
        [
            "leider sind {{ points|number(locale) }} Ihrer Punkte verfallen.",
            "Mit Ihrer nächsten Bestellung sammeln Sie wieder neue.",
        ],
    ),
    "tier_reached": (
        "Willkommen im Status {{ tier_name_de }}",
        [
            "Sie haben den Status {{ tier_name_de }} erreicht – danke für Ihre Treue!",
            "{% if earn_multiplier not in ('1', '1.0', '1.00') %}Ab jetzt sammeln Sie {{ earn_multiplier }}-fach Punkte.{% endif %}{% if free_shipping %} Ihre Bestellungen versenden wir kostenlos.{% endif %}",
        ],
    ),
    "reward_redeemed": (
        "Ihr Gutscheincode: {{ code }}",
        [
            "Sie haben {{ points|number(locale) }} Punkte für „{{ reward_name }}“ eingelöst.",
            "Ihr Code: {{ code }} – einmal einlösbar bis {{ expires_at|day(locale) }}.",
        ],
    ),
    "membership_changed": (
        "{% if change == 'cancelled' %}Ihre Mitgliedschaft ist gekündigt{% elif change == 'expired' %}Ihre Mitgliedschaft ist abgelaufen{% else %}Ihre Mitgliedschaft ist aktiv{% endif %}",
        [
            "{% if change == 'cancelled' %}Ihre Mitgliedschaft ist gekündigt.{% if valid_until %} Ihre Vorteile bleiben Ihnen bis zum {{ valid_until|day(locale) }}.{% endif %}{% elif change == 'expired' %}Ihre Mitgliedschaft ist abgelaufen. Sie können sie jederzeit wieder abschließen.{% else %}Ihre Mitgliedschaft ist aktiv{% if valid_until %} bis zum {{ valid_until|day(locale) }}{% endif %}.{% endif %}",
            "{% if change not in ('cancelled', 'expired') %}{% if earn_multiplier not in ('1', '1.0', '1.00') %}Sie sammeln {{ earn_multiplier }}-fach Punkte.{% endif %}{% if free_shipping %} Der Versand ist für Sie kostenlos.{% endif %}{% endif %}",
        ],
    ),
    "tenure_voucher": (
        "Danke für {{ years }} {{ 'Jahr' if years == 1 else 'Jahre' }} mit uns!",
        [
            "seit {{ years }} {{ 'Jahr' if years == 1 else 'Jahren' }} kaufen Sie bei uns ein – danke dafür!",
            "Als Dankeschön: {{ percent_off }} % Rabatt mit dem Code {{ code }}, gültig bis {{ code_expires_at|day(locale) }}.",
        ],
    ),
    "shipped": (
        "Ihre Bestellung ist unterwegs",
        [
            "gute Nachrichten: Ihr Paket ist unterwegs{% if carrier_name %} mit {{ carrier_name }}{% endif %}{% if tracking_number %} (Sendungsnummer {{ tracking_number }}){% endif %}.",
            "{% if estimated_delivery_date %}Voraussichtliche Zustellung: {{ estimated_delivery_date|day(locale) }}.{% endif %}{% if link %} Hier können Sie es verfolgen: {{ link }}{% endif %}",
        ],
    ),
    "out_for_delivery": (
        "Ihr Paket kommt heute",
        [
            "Ihr Paket{% if carrier_name %} von {{ carrier_name }}{% endif %} ist heute in der Zustellung.",
            "{% if link %}Sendungsverfolgung: {{ link }}{% endif %}",
        ],
    ),
    "delivered": (
        "Ihr Paket ist angekommen",
        [
            "Ihr Paket wurde zugestellt. Wir wünschen Ihnen viel Freude damit!",
            "{% if link %}Alle Details: {{ link }}{% endif %}",
        ],
    ),
    "delay_apology": (
        "Ihr Paket verspätet sich – das tut uns leid",
        [
            "Ihr Paket kommt leider später als versprochen{% if promised_delivery_date %} (zugesagt war der {{ promised_delivery_date|day(locale) }}){% endif %}. Das tut uns leid.{% if goodwill_points %} Als kleine Entschuldigung haben wir Ihnen {{ goodwill_points|number(locale) }} Punkte gutgeschrieben.{% endif %}",
            "{% if estimated_delivery_date %}Neue voraussichtliche Zustellung: {{ estimated_delivery_date|day(locale) }}.{% endif %}{% if link %} Aktueller Stand: {{ link }}{% endif %}",
        ],
    ),
    "delivery_exception": (
        "Problem bei der Zustellung Ihres Pakets",
        [
            "{% if reason == 'failed_attempt' %}der Paketdienst hat Sie leider nicht angetroffen. Er versucht es erneut oder hinterlegt das Paket.{% else %}der Paketdienst meldet ein Problem mit Ihrem Paket. Wir kümmern uns darum und melden uns.{% endif %}",
            "{% if link %}Aktueller Stand: {{ link }}{% endif %}",
        ],
    ),
    "order_received": (
        "Danke für Ihre Bestellung" + ORDER,
        [
            "vielen Dank für Ihre Bestellung"
            + ORDER
            + ": {{ items }} Artikel für {{ total_minor|money(currency, locale) }}.",
            "Wir packen sie jetzt ein und sagen Ihnen Bescheid, sobald sie unterwegs ist.",
        ],
    ),
    "cart_reminder": (
        "Ihr Warenkorb wartet auf Sie",
        [
            "in Ihrem Warenkorb liegen noch {{ items }} Artikel für {{ total_minor|money(currency, locale) }}.",
            "Hier geht es weiter: {{ recovery_url }}",
        ],
    ),
    "review_request": (
        "Wie gefällt Ihnen Ihre Bestellung?",
        [
            "Ihre Bestellung" + ORDER + " ist seit ein paar Tagen bei Ihnen. Wie zufrieden sind Sie?",
            "Mit einer Bewertung helfen Sie anderen bei der Wahl – und uns, noch besser zu werden.",
        ],
    ),
}

# -- flows notifications runs itself (first order, guest checkout, win-back, aftercare, reviews), and birthday
MESSAGES.update(
    {
        "first_order_thank_you": {
            "de": (
                "Danke, dass du bei uns bestellt hast",
                [
                    "schön, dass du dich für uns entschieden hast! Deine erste Bestellung"
                    + ORDER
                    + " ist bei uns eingegangen, und wir kümmern uns mit Sorgfalt darum.",
                    "Hast du Fragen zu deiner Bestellung oder zu unseren Produkten? Antworte einfach auf diese E-Mail – wir helfen gern.",
                ],
            ),
            "en": (
                "Thank you for your first order",
                [
                    "we are delighted you chose us! Your first order"
                    + ORDER
                    + " is with us, and we are taking good care of it.",
                    "Any questions about your order or our products? Just reply to this email, we are happy to help.",
                ],
            ),
        },
        "account_invitation": {
            "de": (
                "Behalte deine Bestellungen im Blick",
                [
                    "du hast als Gast bestellt. Mit einem Kundenkonto siehst du den Stand deiner Bestellungen jederzeit und bestellst beim nächsten Mal schneller.",
                    "Konto in einer Minute anlegen: {{ account_url }}",
                ],
            ),
            "en": (
                "Keep track of your orders",
                [
                    "you ordered as a guest. With an account you can see how your orders are doing at any time, and check out faster next time.",
                    "Create your account in a minute: {{ account_url }}",
                ],
            ),
        },
        "birthday": {
            "de": (
                "Alles Gute zum Geburtstag{% if first_name %}, {{ first_name }}{% endif %}!",
                [
                    "wir wünschen dir alles Gute zum Geburtstag!",
                    "{% if points %}Als Geschenk haben wir dir {{ points|number(locale) }} Punkte gutgeschrieben.{% endif %}{% if code %} Mit dem Code {{ code }} bekommst du {{ percent_off }} % Rabatt{% if code_expires_at %}, gültig bis {{ code_expires_at|day(locale) }}{% endif %}.{% endif %}",
                ],
            ),
            "en": (
                "Happy birthday{% if first_name %}, {{ first_name }}{% endif %}!",
                [
                    "happy birthday from all of us!",
                    "{% if points %}As a gift, we have added {{ points|number(locale) }} points to your account.{% endif %}{% if code %} The code {{ code }} gives you {{ percent_off }}% off{% if code_expires_at %}, valid until {{ code_expires_at|day(locale) }}{% endif %}.{% endif %}",
                ],
            ),
        },
        "win_back": {
            "de": (
                "Wir vermissen dich",
                [
                    "dein letzter Einkauf bei uns ist schon eine Weile her{% if last_order_at %} (am {{ last_order_at|day(locale) }}){% endif %}. Schau doch mal wieder vorbei – es gibt einiges Neues{% if shop_url %}: {{ shop_url }}{% else %}.{% endif %}",
                    "{% if code %}Als kleines Willkommen zurück: {{ percent_off }} % Rabatt mit dem Code {{ code }}.{% endif %}",
                ],
            ),
            "en": (
                "We miss you",
                [
                    "it has been a while since your last order{% if last_order_at %} ({{ last_order_at|day(locale) }}){% endif %}. Come and see what is new{% if shop_url %}: {{ shop_url }}{% else %}.{% endif %}",
                    "{% if code %}A small welcome back: {{ percent_off }}% off with the code {{ code }}.{% endif %}",
                ],
            ),
        },
        "aftercare": {
            "de": (
                "{{ headline }}",
                [
                    "{{ body }}",
                    "{% for p in products %}{{ p.name }}: {{ p.url }}{% if not loop.last %}\n{% endif %}{% endfor %}",
                ],
            ),
            "en": (
                "{{ headline }}",
                [
                    "{{ body }}",
                    "{% for p in products %}{{ p.name }}: {{ p.url }}{% if not loop.last %}\n{% endif %}{% endfor %}",
                ],
            ),
        },
        "negative_review_reply": {
            "de": (
                "Das tut uns leid – wir möchten es wiedergutmachen",
                [
                    "danke für deine ehrliche Bewertung{% if title %} „{{ title }}“{% endif %}. Es tut uns leid, dass wir deine Erwartungen nicht erfüllt haben.",
                    "Wir möchten das wiedergutmachen: Antworte einfach auf diese E-Mail und erzähl uns, was passiert ist – wir melden uns persönlich bei dir.{% if offer %} {{ offer }}{% endif %}",
                ],
            ),
            "en": (
                "We are sorry, and we want to make it right",
                [
                    "thank you for your honest review{% if title %} “{{ title }}”{% endif %}. We are sorry we did not meet your expectations.",
                    "We would like to make it right: just reply to this email and tell us what happened, and we will get back to you personally.{% if offer %} {{ offer }}{% endif %}",
                ],
            ),
        },
        "positive_review_thanks": {
            "de": (
                "Danke für deine Bewertung!",
                [
                    "vielen Dank für deine {{ rating }}-Sterne-Bewertung{% if title %} „{{ title }}“{% endif %}! Es freut uns sehr, dass du zufrieden bist.",
                    "Deine Meinung hilft anderen bei der Wahl – und uns bei der Arbeit.",
                ],
            ),
            "en": (
                "Thank you for your review!",
                [
                    "thank you for your {{ rating }}-star review{% if title %} “{{ title }}”{% endif %}! We are delighted you are happy.",
                    "Your opinion helps other shoppers choose, and helps us in our work.",
                ],
            ),
        },
        "review_alert": {  # to the merchant's team, not a customer: no form of address to choose
            "de": (
                "Negative Bewertung: {{ rating }} von 5 Sternen{% if order_id %} zu Bestellung {{ order_id }}{% endif %}",
                [
                    "eine Kundin oder ein Kunde ({{ customer_email or customer_id }}) hat {{ rating }} von 5 Sternen vergeben{% if title %}: „{{ title }}“{% else %}.{% endif %}",
                    "{% if body %}„{{ body }}“{% endif %}",
                    "Eine Antwort mit dem Angebot, es wiedergutzumachen, ist bereits in eurem Namen rausgegangen; Rückmeldungen kommen an eure Antwortadresse.",
                ],
            ),
            "en": (
                "Negative review: {{ rating }} of 5 stars{% if order_id %} on order {{ order_id }}{% endif %}",
                [
                    "a customer ({{ customer_email or customer_id }}) gave {{ rating }} of 5 stars{% if title %}: “{{ title }}”{% else %}.{% endif %}",
                    "{% if body %}“{{ body }}”{% endif %}",
                    "A reply offering to make it right has already gone out in your name; answers come to your reply-to address.",
                ],
            ),
        },
    }
)

SIE.update(
    {
        "first_order_thank_you": (
            "Danke, dass Sie bei uns bestellt haben",
            [
                "schön, dass Sie sich für uns entschieden haben! Ihre erste Bestellung"
                + ORDER
                + " ist bei uns eingegangen, und wir kümmern uns mit Sorgfalt darum.",
                "Haben Sie Fragen zu Ihrer Bestellung oder zu unseren Produkten? Antworten Sie einfach auf diese E-Mail – wir helfen gern.",
            ],
        ),
        "account_invitation": (
            "Behalten Sie Ihre Bestellungen im Blick",
            [
                "Sie haben als Gast bestellt. Mit einem Kundenkonto sehen Sie den Stand Ihrer Bestellungen jederzeit und bestellen beim nächsten Mal schneller.",
                "Konto in einer Minute anlegen: {{ account_url }}",
            ],
        ),
        "birthday": (
            "Herzlichen Glückwunsch zum Geburtstag",
            [
                "wir wünschen Ihnen alles Gute zum Geburtstag!",
                "{% if points %}Als Geschenk haben wir Ihnen {{ points|number(locale) }} Punkte gutgeschrieben.{% endif %}{% if code %} Mit dem Code {{ code }} erhalten Sie {{ percent_off }} % Rabatt{% if code_expires_at %}, gültig bis {{ code_expires_at|day(locale) }}{% endif %}.{% endif %}",
            ],
        ),
        "win_back": (
            "Wir vermissen Sie",
            [
                "Ihr letzter Einkauf bei uns ist schon eine Weile her{% if last_order_at %} (am {{ last_order_at|day(locale) }}){% endif %}. Schauen Sie doch mal wieder vorbei – es gibt einiges Neues{% if shop_url %}: {{ shop_url }}{% else %}.{% endif %}",
                "{% if code %}Als kleines Willkommen zurück: {{ percent_off }} % Rabatt mit dem Code {{ code }}.{% endif %}",
            ],
        ),
        "aftercare": MESSAGES["aftercare"]["de"],
        "negative_review_reply": (
            "Das tut uns leid – wir möchten es wiedergutmachen",
            [
                "danke für Ihre ehrliche Bewertung{% if title %} „{{ title }}“{% endif %}. Es tut uns leid, dass wir Ihre Erwartungen nicht erfüllt haben.",
                "Wir möchten das wiedergutmachen: Antworten Sie einfach auf diese E-Mail und schildern Sie uns, was passiert ist – wir melden uns persönlich bei Ihnen.{% if offer %} {{ offer }}{% endif %}",
            ],
        ),
        "positive_review_thanks": (
            "Danke für Ihre Bewertung!",
            [
                "vielen Dank für Ihre {{ rating }}-Sterne-Bewertung{% if title %} „{{ title }}“{% endif %}! Es freut uns sehr, dass Sie zufrieden sind.",
                "Ihre Meinung hilft anderen bei der Wahl – und uns bei der Arbeit.",
            ],
        ),
        "review_alert": MESSAGES["review_alert"]["de"],
    }
)


MESSAGES["opt_in_confirmation"] = {
    "de": (
        "Bitte bestätige deine Anmeldung",
        [
            "du möchtest Neuigkeiten und Angebote von {{ merchant_name }} per E-Mail bekommen. Bitte bestätige das mit einem Klick:",
            "{{ confirm_url }}",
            "Warst du das nicht? Dann ignoriere diese E-Mail einfach – ohne Bestätigung schicken wir dir keine Werbung.",
        ],
    ),
    "en": (
        "Please confirm your subscription",
        [
            "you would like news and offers from {{ merchant_name }} by email. Please confirm with one click:",
            "{{ confirm_url }}",
            "Not you? Just ignore this email: without your confirmation we send you no marketing mail.",
        ],
    ),
}
SIE["opt_in_confirmation"] = (
    "Bitte bestätigen Sie Ihre Anmeldung",
    [
        "Sie möchten Neuigkeiten und Angebote von {{ merchant_name }} per E-Mail erhalten. Bitte bestätigen Sie das mit einem Klick:",
        "{{ confirm_url }}",
        "Waren Sie das nicht? Dann ignorieren Sie diese E-Mail einfach – ohne Bestätigung senden wir Ihnen keine Werbung.",
    ],
)


def text_of(paras: list[str]) -> str:
    return "{{ greeting }}\n\n" + "\n\n".join(paras) + "\n\n{{ sign_off }}\n{{ merchant_name }}\n"


def html_of(paras: list[str]) -> str:
    def para(p: str) -> str:  # a paragraph with line breaks (a product list) keeps them
        return f'<p style="white-space: pre-line">{p}</p>' if "\n" in p else f"<p>{p}</p>"

    return (
        "<p>{{ greeting }}</p>\n"
        + "\n".join(para(p) for p in paras)
        + "\n<p>{{ sign_off }}<br>{{ merchant_name }}</p>\n"
    )


def choose(formal: str, informal: str) -> str:
    """German has two forms of address: the merchant's setting picks one (`formal`: Sie)."""
    return "{% if formal %}" + formal + "{% else %}" + informal + "{% endif %}"


#: Messages with the merchant's note for the customer's country (settings `region_notes`), as their last paragraph.
REGION_AWARE = ("order_received", "shipped")
REGION_NOTE = "{% if region_note %}{{ region_note }}{% endif %}"


def main() -> None:
    for message in REGION_AWARE:
        for lang, (subject, paras) in MESSAGES[message].items():
            MESSAGES[message][lang] = (subject, [*paras, REGION_NOTE])
        SIE[message] = (SIE[message][0], [*SIE[message][1], REGION_NOTE])
    for message, langs in MESSAGES.items():
        for lang, (subject, paras) in langs.items():
            text, html = text_of(paras), html_of(paras)
            if lang == "de":
                sie_subject, sie_paras = SIE[message]
                if (sie_subject, sie_paras) != (subject, paras):
                    subject = choose(sie_subject, subject)
                    text, html = choose(text_of(sie_paras), text), choose(html_of(sie_paras), html)
            body = (
                "{% block subject %}" + subject + "{% endblock %}\n"
                "{% block text %}" + text + "{% endblock %}\n"
                "{% block html %}" + html + "{% endblock %}\n"
            )
            (OUT / f"{message}.{lang}.j2").write_text(body, encoding="utf-8")
    print(len(MESSAGES) * 2, "templates written to", OUT)


if __name__ == "__main__":
    main()
