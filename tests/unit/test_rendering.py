"""Templates render German and English, escape HTML, and build one multipart MIME message."""

from __future__ import annotations

from services.notifications.adapters.rendering import Renderer
from services.notifications.adapters.smtp import build_message
from services.notifications.domain.messages import template_context

CONTEXT = template_context({"points": 46, "balance": 120, "order_id": "10042"}, "Jürgen", "Demo-Shop")


def test_german_and_english_points_mail() -> None:
    renderer = Renderer()
    de = renderer.render("points_earned", "de", CONTEXT)
    en = renderer.render("points_earned", "en", CONTEXT)
    assert de.subject == "Du hast 46 Punkte gesammelt" and "Hallo Jürgen," in de.text and "120 Punkte" in de.text
    assert en.subject == "You earned 46 points" and "Hello Jürgen," in en.text and "120 points" in en.html


def test_customer_data_is_escaped_in_html_but_readable_in_text() -> None:
    rendered = Renderer().render("points_earned", "de", {**CONTEXT, "first_name": "<script>x</script>"})
    assert "<script>" not in rendered.html and "&lt;script&gt;" in rendered.html
    assert "<script>x</script>" in rendered.text


def test_subject_cannot_inject_headers() -> None:
    rendered = Renderer().render("points_earned", "en", {**CONTEXT, "points": "1\r\nBcc: evil@example.com"})
    assert "\n" not in rendered.subject and "\r" not in rendered.subject


def test_mime_message_has_text_and_html_alternatives() -> None:
    rendered = Renderer().render("points_earned", "de", CONTEXT)
    message = build_message(
        rendered,
        sender=("Demo-Shop", "no-reply@demo.example"),
        recipient=("Jürgen Weber", "juergen@example.de"),
        notification_id="n-1",
    ).parsed()  # as it goes on the wire
    types = [part.get_content_type() for part in message.iter_parts()]
    assert types == ["text/plain", "text/html"]
    assert message["X-Retention-Notification-Id"] == "n-1" and "Jürgen" in str(message["To"])


def test_numbers_are_formatted_for_the_locale() -> None:
    renderer = Renderer()
    assert "1.234 Punkte" in renderer.render("points_earned", "de", {**CONTEXT, "balance": 1234}).text
    assert "1,234 points" in renderer.render("points_earned", "en", {**CONTEXT, "balance": 1234}).text
